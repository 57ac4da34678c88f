#include <catch2/catch.hpp>

#include <chrono>

#include "baton/dsl/yaml_tree.h"

using namespace baton::dsl;

TEST_CASE("the YAML tree keeps positions, quoting and order") {
  auto doc = load_yaml("a: 1\nb:\n  - x\n  - \"2\"\nc: {d: e}\n");
  REQUIRE(doc.errors.empty());
  REQUIRE(doc.root->is_map());
  const YamlNode* b = doc.root->get("b");
  REQUIRE(b);
  CHECK(b->is_seq());
  CHECK(b->pos.line == 3);
  CHECK(b->items[1]->quoted);
  CHECK(b->items[1]->pos.line == 4);
  CHECK(b->items[1]->pos.col == 5);
  CHECK(to_json(*doc.root) == R"({"a":1,"b":["x","2"],"c":{"d":"e"}})");
}

TEST_CASE("scalars follow the YAML 1.2 core schema") {
  auto doc = load_yaml("[1, -2, 1.5, true, False, null, ~, '', abc, \"true\", 007, 1e3]");
  REQUIRE(doc.errors.empty());
  CHECK(to_json(*doc.root) == R"([1,-2,1.5,true,false,null,null,"","abc","true",7,1000])");
}

TEST_CASE("duplicate keys are errors at the second key, naming the first") {
  auto doc = load_yaml("a: 1\nb: 2\na: 3\n");
  REQUIRE(doc.errors.size() == 1);
  CHECK(doc.errors[0].pos.line == 3);
  CHECK(doc.errors[0].message == "a: duplicate key \"a\" (first defined at line 1)");
  auto nested = load_yaml("tasks:\n  t:\n    x: 1\n    x: 2\nl:\n  - {k: 1, k: 2}\n");
  REQUIRE(nested.errors.size() == 2);
  CHECK(nested.errors[0].message.rfind("tasks.t.x: duplicate key \"x\"", 0) == 0);
  CHECK(nested.errors[1].message.rfind("l[0].k: duplicate key \"k\"", 0) == 0);
  CHECK(doc.root->get("a")->scalar == "1");
}

TEST_CASE("malformed YAML reports where") {
  auto doc = load_yaml("a: [1, 2\nb: 3\n");
  REQUIRE(doc.errors.size() == 1);
  CHECK(doc.errors[0].message.rfind("malformed YAML", 0) == 0);
  CHECK(doc.errors[0].pos.line >= 1);
}

TEST_CASE("a billion-laughs document fails fast without expanding") {
  std::string text = "a: &a [x,x,x,x,x,x,x,x,x,x]\n";
  char prev = 'a';
  for (char c = 'b'; c <= 'k'; ++c) {
    text += std::string(1, c) + ": &" + c + " [";
    for (int i = 0; i < 10; ++i) text += std::string(i ? "," : "") + "*" + prev;
    text += "]\n";
    prev = c;
  }
  auto start = std::chrono::steady_clock::now();
  auto doc = load_yaml(text);
  auto took = std::chrono::steady_clock::now() - start;
  REQUIRE(doc.errors.size() == 1);
  CHECK(doc.errors[0].message.find("alias expansion exceeds 10000 nodes") != std::string::npos);
  CHECK(took < std::chrono::seconds(1));
}

TEST_CASE("a billion-laughs document by size fails fast too") {
  std::string text = "a: &x \"" + std::string(500000, 'x') + "\"\nb: [";
  for (int i = 0; i < 9000; ++i) text += std::string(i ? "," : "") + "*x";
  text += "]\n";
  auto doc = load_yaml(text);
  REQUIRE(doc.errors.size() == 1);
  CHECK(doc.errors[0].message.find("alias expansion exceeds 1048576 bytes") != std::string::npos);
}

TEST_CASE("numbers out of range stay text, never an invalid JSON") {
  auto doc = load_yaml("[1e999, -1e999]");
  REQUIRE(doc.errors.empty());
  CHECK(to_json(*doc.root) == R"(["1e999","-1e999"])");
}

TEST_CASE("nesting deeper than 64 is rejected; 64 is fine") {
  auto nest = [](int depth) { return std::string(static_cast<size_t>(depth), '[') + std::string(static_cast<size_t>(depth), ']'); };
  CHECK(load_yaml(nest(64)).errors.empty());
  auto deep = load_yaml(nest(65));
  REQUIRE(deep.errors.size() == 1);
  CHECK(deep.errors[0].message == "nesting deeper than 64 levels");
  // Very deep input is cut off early too, not by exhausting the stack.
  auto hostile = load_yaml(nest(200000));
  REQUIRE(hostile.errors.size() == 1);
}

TEST_CASE("more than 1 MiB is refused before parsing") {
  std::string big(1024 * 1024 + 1, '#');
  auto doc = load_yaml(big);
  REQUIRE(doc.errors.size() == 1);
  CHECK(doc.errors[0].message.find("the limit is 1048576 bytes (1 MiB)") != std::string::npos);
}

TEST_CASE("a file holds one document") {
  auto doc = load_yaml("a: 1\n---\nb: 2\n");
  REQUIRE(doc.errors.size() == 1);
  CHECK(doc.errors[0].message.find("more than one YAML document") != std::string::npos);
}

TEST_CASE("text that is not UTF-8 is refused with its position") {
  auto doc = load_yaml("a: ok\nb: caf\xe9\n");
  REQUIRE(doc.errors.size() == 1);
  CHECK(doc.errors[0].pos.line == 2);
  CHECK(doc.errors[0].pos.col == 7);
  CHECK(doc.errors[0].message.find("not valid UTF-8") != std::string::npos);
  CHECK(load_yaml("a: caf\xc3\xa9 \xf0\x9f\x8e\xbc\n").errors.empty());
  CHECK_FALSE(load_yaml("a: \xc0\xaf\n").errors.empty());  // overlong '/'
}

TEST_CASE("a second document is reported at its ---") {
  auto doc = load_yaml("a: 1\nb: 2\n---\nc: 3\n");
  REQUIRE(doc.errors.size() == 1);
  CHECK(doc.errors[0].pos.line == 3);
  CHECK(doc.errors[0].message.find("`---`") != std::string::npos);
  // One explicit document (and its end marker) is fine.
  CHECK(load_yaml("---\na: 1\n...\n").errors.empty());
}

TEST_CASE("an empty value is reported at its key, not where the next token is") {
  auto doc = load_yaml("dag:\n\n# a comment\ntasks:\n  t:\n    command: x\n");
  REQUIRE(doc.errors.empty());
  const YamlNode* dag = doc.root->get("dag");
  REQUIRE(dag);
  CHECK(dag->is_null());
  CHECK(dag->pos.line == 1);
  auto last = load_yaml("a: 1\nb:\n");
  CHECK(last.root->get("b")->pos.line == 2);
  auto inline_null = load_yaml("a: ~\nb: null\n");
  CHECK(inline_null.root->get("a")->pos.line == 1);
  CHECK(inline_null.root->get("b")->pos.line == 2);
}

TEST_CASE("a quoted string never closed is refused at the line and column where it opens") {
  SECTION("double quotes: the rest of the file would have been one command") {
    auto doc = load_yaml("dag: a\ntasks:\n  t:\n    command: \"echo hi\n  u:\n    command: echo bye\n");
    REQUIRE_FALSE(doc.errors.empty());
    CHECK(doc.errors[0].pos.line == 4);
    CHECK(doc.errors[0].pos.col == 14);
    CHECK(doc.errors[0].message.find("double-quoted string starts here and is never closed") != std::string::npos);
  }
  SECTION("single quotes, at the end of the file") {
    auto doc = load_yaml("dag: a\ntasks:\n  t:\n    command: 'echo hi\n");
    REQUIRE_FALSE(doc.errors.empty());
    CHECK(doc.errors[0].pos.line == 4);
    CHECK(doc.errors[0].pos.col == 14);
    CHECK(doc.errors[0].message.find("single-quoted") != std::string::npos);
  }
  SECTION("an escaped quote does not close it; '' inside single quotes does not either") {
    CHECK_FALSE(load_yaml("a: \"say \\\"hi\\\"\nb: 1\n").errors.empty());
    CHECK_FALSE(load_yaml("a: 'it''s\nb: 1\n").errors.empty());
  }
  SECTION("after an anchor or a tag; as a key; in a flow sequence") {
    auto anchored = load_yaml("a: &x \"open\nb: 1\n");
    REQUIRE_FALSE(anchored.errors.empty());
    CHECK(anchored.errors[0].pos.line == 1);
    CHECK(anchored.errors[0].message.find("never closed") != std::string::npos);
    auto tagged = load_yaml("a: !!str 'open\n");
    REQUIRE_FALSE(tagged.errors.empty());
    CHECK(tagged.errors[0].message.find("never closed") != std::string::npos);
    auto key = load_yaml("a: 1\n\"b: 2\n");
    REQUIRE_FALSE(key.errors.empty());
    CHECK(key.errors[0].pos.line == 2);
    CHECK_FALSE(load_yaml("a: [\"x, y]\n").errors.empty());
  }
}

TEST_CASE("valid YAML with quotes in tricky places is still accepted") {
  const char* texts[] = {
      "command: echo it's fine\n",
      "command: echo \"hi\n",                       // a plain scalar holding a quote
      "command: echo 'a' \"b\" it's\n",
      "command: |\n  echo \"unclosed\n  it's 'fine\n",  // quotes inside a block scalar
      "command: >\n  don't \"stop\n",
      "a: \"multi\n  line\"\nb: 'it''s'\n",
      "a: \"esc \\\" \\\\\"\nb: '\\'\n",               // \" and \\ in double, \ alone in single
      "a: 'x' # a comment with a \" quote\n",
      "# \" a comment\na: 1 # it's\n",
      "a: [\"x\", 'y', z's]\nb: {\"k\": 'v'}\n",
      "? \"complex key\"\n: value\n",
      "a: &anchor \"v\"\nb: *anchor\nc: !!str 'w'\n",
      "a: \"\"\nb: ''\n",
  };
  for (const char* t : texts) {
    INFO(t);
    auto doc = load_yaml(t);
    CHECK(doc.errors.empty());
    if (!doc.errors.empty()) CHECK(doc.errors[0].message == "");
  }
}

TEST_CASE("the quote check stays linear on hostile input") {
  std::string many;
  for (int i = 0; i < 20000; ++i) many += "k" + std::to_string(i) + ": \"v\\\"''\"\n";
  auto start = std::chrono::steady_clock::now();
  auto doc = load_yaml(many);
  CHECK(doc.errors.empty());
  std::string open = many + "last: \"" + std::string(200000, '\\');
  CHECK_FALSE(load_yaml(open).errors.empty());
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
}

TEST_CASE("a UTF-8 byte order mark is skipped: the quote check and positions count from after it") {
  const std::string bom = "\xEF\xBB\xBF";
  SECTION("valid: quotes that would look unclosed 3 bytes off") {
    auto doc = load_yaml(bom + "tags: [\"x'\",\"z\"]\n");
    CHECK(doc.errors.empty());
    if (!doc.errors.empty()) CHECK(doc.errors[0].message == "");
    REQUIRE(doc.root);
    const YamlNode* tags = doc.root->get("tags");
    REQUIRE(tags);
    REQUIRE(tags->items.size() == 2);
    CHECK(tags->items[0]->scalar == "x'");
    CHECK(tags->pos.line == 1);
    CHECK(tags->pos.col == 7);
    CHECK(load_yaml(bom + "a: 'x'\nb: \"y\"\n").errors.empty());
  }
  SECTION("a quote never closed is found, at its line and column") {
    auto doc = load_yaml(bom + "dag: a\ntasks:\n  t:\n    command: \"echo hi\n  u:\n    command: echo bye\n");
    REQUIRE_FALSE(doc.errors.empty());
    CHECK(doc.errors[0].pos.line == 4);
    CHECK(doc.errors[0].pos.col == 14);
    CHECK(doc.errors[0].message.find("never closed") != std::string::npos);
    auto first = load_yaml(bom + "a: 'open\n");
    REQUIRE_FALSE(first.errors.empty());
    CHECK(first.errors[0].pos.line == 1);
    CHECK(first.errors[0].pos.col == 4);
    CHECK(first.errors[0].message.find("never closed") != std::string::npos);
  }
  SECTION("other errors on the first line are not shifted by it") {
    auto dup = load_yaml(bom + "a: 1\na: 2\n");
    REQUIRE_FALSE(dup.errors.empty());
    CHECK(dup.errors[0].pos.line == 2);
    CHECK(dup.errors[0].pos.col == 1);
    auto bad = load_yaml(bom + "a: caf\xe9\n");
    REQUIRE(bad.errors.size() == 1);
    CHECK(bad.errors[0].pos.line == 1);
    CHECK(bad.errors[0].pos.col == 7);
  }
}
