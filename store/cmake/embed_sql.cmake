# Writes OUT: a C++ file holding every *.sql file of DIR as a numbered
# migration, in file-name order. Run at build time (add_custom_command).
file(GLOB files "${DIR}/*.sql")
list(SORT files)
set(body "")
foreach(f IN LISTS files)
  get_filename_component(name "${f}" NAME_WE)
  string(REGEX MATCH "^[0-9]+" number "${name}")
  math(EXPR number "${number}")  # 0008 is a decimal number, not an octal literal
  file(READ "${f}" sql)
  string(APPEND body "    {${number}, \"${name}\", R\"BATON_SQL(${sql})BATON_SQL\"},\n")
endforeach()
file(WRITE "${OUT}.tmp" "// Generated from ${DIR} by store/cmake/embed_sql.cmake. Do not edit.\n#include \"migrations.h\"\n\nnamespace baton::store {\n\nconst std::vector<Migration>& ${FUNC}() {\n  static const std::vector<Migration> kMigrations = {\n${body}  };\n  return kMigrations;\n}\n\n}  // namespace baton::store\n")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
