#include <catch2/catch.hpp>

#include "baton/core/time.h"
#include "baton/dsl/template.h"

using namespace baton;
using namespace baton::dsl;

namespace {
RenderContext context() {
  RenderContext c;
  c.zone = *TimeZone::find("Europe/Berlin");
  c.logical_date = *parse_utc("2026-11-20T23:00:00Z");  // 2026-11-21 00:00 in Berlin
  c.data_interval_start = c.logical_date;
  c.data_interval_end = *parse_utc("2026-11-21T23:00:00Z");
  c.run_id = "scheduled__20261120T230000Z";
  c.dag_id = "sales";
  c.task_id = "load";
  c.try_number = 2;
  c.params_json = R"({"region":"eu","limits":{"max":5},"list":[1,2]})";
  c.outputs_json["extract"] = R"({"rows":42,"files":["a","b"],"meta":{"k":"v"}})";
  c.outputs_json["my.task"] = R"({"x":1})";
  c.variable = [](const std::string& name) -> std::optional<std::string> {
    if (name == "bucket") return "s3://b";
    return std::nullopt;
  };
  return c;
}
std::string render(const std::string& t) {
  auto r = render_template(t, context());
  INFO(t);
  REQUIRE(r.ok());
  return *r;
}
}  // namespace

TEST_CASE("run names render in the DAG's timezone and in UTC") {
  CHECK(render("{{ ds }}") == "2026-11-21");
  CHECK(render("{{ds_nodash}}") == "20261121");
  CHECK(render("{{ ts }}") == "2026-11-20T23:00:00Z");
  CHECK(render("{{ logical_date }}|{{ data_interval_start }}|{{ data_interval_end }}") ==
        "2026-11-20T23:00:00Z|2026-11-20T23:00:00Z|2026-11-21T23:00:00Z");
  CHECK(render("{{ run_id }} {{ dag_id }} {{ task_id }} {{ try_number }} {{ map_index }}") ==
        "scheduled__20261120T230000Z sales load 2 -1");
}

TEST_CASE("params, outputs and variables; lists and objects render as JSON") {
  CHECK(render("{{ params.region }}") == "eu");
  CHECK(render("{{ params.limits.max }}") == "5");
  CHECK(render("{{ params.list }}") == "[1,2]");
  CHECK(render("{{ outputs.extract.rows }}") == "42");
  CHECK(render("{{ outputs.extract.files }}") == R"(["a","b"])");
  CHECK(render("{{ outputs.extract.files.1 }}") == "b");
  CHECK(render("{{ outputs.extract.meta }}") == R"({"k":"v"})");
  CHECK(render("{{ outputs.my.task.x }}") == "1");  // task ids may hold dots
  CHECK(render("{{ var.bucket }}/x") == "s3://b/x");
}

TEST_CASE("date helpers") {
  CHECK(render("{{ ds_add(ds, -1) }}") == "2026-11-20");
  CHECK(render("{{ ds_add(ds, 10) }}") == "2026-12-01");
  CHECK(render("{{ format(data_interval_end, \"%Y/%m/%d %H:%M\") }}") == "2026/11/22 00:00");
  CHECK(render("{{ format(\"2026-03-01\", \"%j\") }}") == "060");
  CHECK(render("no templates here, just {braces}") == "no templates here, just {braces}");
  CHECK(render("{{ \"{{\" }}") == "{{");
}

TEST_CASE("a name missing at run time fails with a message that names it") {
  auto c = context();
  auto r = render_template("{{ var.missing }}", c);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("var.missing") != std::string::npos);
  auto o = render_template("{{ outputs.extract.nope }}", c);
  REQUIRE_FALSE(o.ok());
  CHECK(o.error().message.find("outputs.extract.nope") != std::string::npos);
  auto i = render_template("{{ item }}", c);
  REQUIRE_FALSE(i.ok());
  CHECK(i.error().message.find("item") != std::string::npos);
  c.item_json = R"({"region":"us"})";
  CHECK(*render_template("{{ item.region }}", c) == "us");
}

TEST_CASE("template values are not evaluated again") {
  auto c = context();
  c.params_json = R"x({"evil":"{{ var.bucket }} $(rm -rf /)"})x";
  CHECK(*render_template("{{ params.evil }}", c) == "{{ var.bucket }} $(rm -rf /)");
}

TEST_CASE("check_template finds syntax and name errors with offsets") {
  TemplateScope scope;
  std::vector<std::string> params = {"region"};
  scope.params = &params;
  auto issues = check_template("x {{ ds }} {{ nope }}", scope);
  REQUIRE(issues.size() == 1);
  CHECK(issues[0].offset == 14);
  CHECK(check_template("{{ ds", scope).size() == 1);
  CHECK(check_template("{{ ds_add(ds) }}", scope)[0].message.find("takes 2 arguments") != std::string::npos);
  CHECK(check_template("{{ ds | upper }}", scope)[0].message.find("unknown filter") != std::string::npos);
  CHECK(check_template("{{ }}", scope)[0].message.find("empty expression") != std::string::npos);
  CHECK(check_template("{{ params }} {{ params.region }}", scope).empty());
}

TEST_CASE("hostile templates fail cleanly") {
  TemplateScope scope;
  std::string deep = "{{ ";
  for (int i = 0; i < 100000; ++i) deep += "ds_add(";
  deep += " }}";
  auto issues = check_template(deep, scope);
  REQUIRE(issues.size() == 1);
  CHECK(issues[0].message.find("nest deeper than 16") != std::string::npos);
  CHECK(check_template("{{ \xc3\xa9 }}", scope)[0].message.find("unexpected \"\xc3\xa9\"") != std::string::npos);
  auto c = context();
  CHECK_FALSE(render_template("{{ params.list.99999999999999999999999 }}", c).ok());
  CHECK_FALSE(render_template("{{ ds_add(ds, 999999999999) }}", c).ok());
  CHECK_FALSE(render_template(deep, c).ok());
}
