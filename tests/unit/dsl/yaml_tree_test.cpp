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
