#include "baton/store/store.h"

#include "baton/core/secrets.h"

namespace baton::store {

Result<DatabaseUrl> parse_database_url(std::string_view text) {
  DatabaseUrl u;
  u.text = std::string(text);
  if (text.rfind("sqlite:", 0) == 0) {
    u.engine = DatabaseUrl::Engine::sqlite;
    u.path = std::string(text.substr(7));
    if (u.path.rfind("//", 0) == 0) u.path = u.path.substr(2);  // sqlite://path
    if (u.path.empty()) return Error::invalid("database URL \"" + u.masked() + "\" names no file: use sqlite:PATH");
    return u;
  }
  if (text.rfind("postgresql://", 0) == 0 || text.rfind("postgres://", 0) == 0) {
    u.engine = DatabaseUrl::Engine::postgres;
    u.conninfo = u.text;
    return u;
  }
  return Error::invalid("unsupported database URL \"" + u.masked() +
                        "\": use sqlite:PATH or postgresql://user:pass@host:port/db");
}

std::string DatabaseUrl::masked() const { return mask_secrets(text); }

std::string DatabaseUrl::mask(std::string_view message) const { return mask_message(message, text); }

}  // namespace baton::store
