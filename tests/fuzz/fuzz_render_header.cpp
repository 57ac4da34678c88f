// Fuzz target: header values. The input is a template (parsed and rendered
// with a hostile param and a variable from the input itself) and a raw
// value: check_header_value refuses exactly the values holding CR, LF or
// NUL, and a rendered header never holds one.
#include <cstdlib>
#include <string>

#include "baton/dsl/render.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  bool bad = in.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
  if (baton::dsl::check_header_value("X-Fuzz", in).ok() == bad) std::abort();

  baton::dsl::RenderContext ctx;
  ctx.run_id = "manual__1";
  ctx.dag_id = "d";
  ctx.params_json = R"({"v":"a\r\nX-Evil: 1","n":1,"s":"plain"})";
  std::string variable(in);
  ctx.variable = [&variable](const std::string&) -> std::optional<std::string> { return variable; };
  auto r = baton::dsl::render_header("X-Fuzz", in, ctx);
  if (r && r->find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) std::abort();
  return 0;
}
