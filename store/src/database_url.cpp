#include "baton/store/store.h"

namespace baton::store {

Result<DatabaseUrl> parse_database_url(std::string_view text) {
  DatabaseUrl u;
  u.text = std::string(text);
  if (text.rfind("sqlite:", 0) == 0) {
    u.engine = DatabaseUrl::Engine::sqlite;
    u.path = std::string(text.substr(7));
    if (u.path.rfind("//", 0) == 0) u.path = u.path.substr(2);  // sqlite://path
    if (u.path.empty()) return Error::invalid("database URL \"" + u.text + "\" names no file: use sqlite:PATH");
    return u;
  }
  if (text.rfind("postgresql://", 0) == 0 || text.rfind("postgres://", 0) == 0) {
    u.engine = DatabaseUrl::Engine::postgres;
    u.conninfo = u.text;
    return u;
  }
  return Error::invalid("unsupported database URL \"" + u.text +
                        "\": use sqlite:PATH or postgresql://user:pass@host:port/db");
}

std::string DatabaseUrl::masked() const {
  // scheme://user:password@host -> scheme://user:***@host
  size_t scheme = text.find("://");
  if (scheme == std::string::npos) return text;
  size_t at = text.find('@', scheme + 3);
  if (at == std::string::npos) return text;
  size_t colon = text.find(':', scheme + 3);
  if (colon == std::string::npos || colon > at) return text;
  return text.substr(0, colon + 1) + "***" + text.substr(at);
}

}  // namespace baton::store
