// Rendering a template for where it stands (SPEC §3, "Rendering depends on
// where a template stands"): no value — a trigger's params, a dataset event's
// extra, an upstream output, a variable, an item — may change the structure
// of what the DAG's author wrote.
//
//  - command: each value is one shell word (shell_quote, Python's
//    shlex.quote), or escaped for the quotes the author put around it;
//  - sql: a value inside a '...' literal is escaped for it, anywhere else it
//    is a bound parameter; ident() is a double-quoted identifier;
//  - url: percent-encoded as one path segment or one query value; the result
//    must be a valid http(s) URL of at most 8 KiB;
//  - headers: no CR, LF or NUL in a value;
//  - everything else: the text as it is (render_template).
// `{{ x | raw }}` is inserted as it is everywhere.
//
// The renderers read the author's text with a small lexer of the field's
// language (linear, no regular expressions) to know where each value stands;
// where that cannot be known for sure, only values that are safe anywhere are
// accepted and the try fails with a message that says why. docs/dag-language.md
// has the rules for each field.
//
// Pure functions: safe from any thread.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "baton/core/result.h"
#include "baton/dsl/template.h"

namespace baton::dsl {

// ---- shell (`command`) ----

// True when every byte is one of A-Za-z0-9_@%+=:,./- and there is at least one.
bool shell_safe(std::string_view value);
// Python's shlex.quote: a safe value as it is, '' for an empty one, otherwise
// '...' with each ' written as '"'"'.
std::string shell_quote(std::string_view value);
// The command for `/bin/sh -c`: each value one word part (see the file comment).
Result<std::string> compose_shell(const std::vector<RenderedPiece>& pieces);
Result<std::string> render_shell(std::string_view text, const RenderContext& ctx);

// ---- sql ----

enum class SqlDialect { postgres, sqlite };

struct SqlParam {
  std::string value;
  RenderedPiece::Type type = RenderedPiece::Type::string;  // null binds NULL; integer/real bind numbers (SQLite)
};

struct SqlStatement {
  std::string sql;               // one statement, without its `;`
  std::vector<SqlParam> params;  // PostgreSQL: $1.. of this statement; SQLite: ?N numbered through the whole text
};

struct RenderedSql {
  // The whole text. SQLite: values as ?N, N counted through the text
  // (params[N-1]). PostgreSQL: values as $k counted within each statement, so
  // the whole text is what to run only when `params` is empty.
  std::string sql;
  std::vector<SqlParam> params;
  // The text cut at each `;` outside literals, comments and parentheses;
  // statements that hold only blanks and comments are left out.
  std::vector<SqlStatement> statements;
  bool literal_values = false;     // a value was escaped into a '...' literal
  bool literal_backslash = false;  // ... and held a backslash (PostgreSQL: needs standard_conforming_strings=on)
};

// A value's type by name (a remote worker's payload): "string", "integer",
// "real", "boolean", "null", "json"; an unknown name is "string".
const char* to_string(RenderedPiece::Type t);
RenderedPiece::Type value_type(std::string_view name);

// `"name"` with each " doubled.
std::string sql_ident(std::string_view name);
Result<RenderedSql> compose_sql(const std::vector<RenderedPiece>& pieces, SqlDialect dialect);
Result<RenderedSql> render_sql(std::string_view text, const RenderContext& ctx, SqlDialect dialect);

// ---- url ----

constexpr size_t kMaxUrlBytes = 8192;

struct HttpUrl {
  std::string scheme;     // "http" or "https" (lower case)
  std::string authority;  // [user@]host[:port]
  std::string target;     // path and query, starting with "/" (the fragment is dropped)
  std::string base() const { return scheme + "://" + authority; }
};

// A valid http(s) URL of at most 8 KiB: scheme, `://`, a host (a name, an
// IPv4 address or [an IPv6 address]) with an optional port 1-65535, then a
// path, query and fragment without blanks or control characters. Linear in
// the input; the error says what is wrong (never quoting more than 200 bytes).
Result<HttpUrl> parse_http_url(std::string_view url);
Result<std::string> compose_url(const std::vector<RenderedPiece>& pieces);
Result<std::string> render_url(std::string_view text, const RenderContext& ctx);
// The literal parts of a url template, for `dags validate`: an error when the
// text has no template and is not a valid URL, or when its literal text
// alone is longer than 8 KiB.
Status check_url_template(std::string_view text);

// ---- headers ----

// An error naming the header when the value holds CR, LF or NUL.
Status check_header_value(std::string_view name, std::string_view value);
Result<std::string> render_header(std::string_view name, std::string_view text, const RenderContext& ctx);

}  // namespace baton::dsl
