// Internal: YAML tree -> DagSpec, with every error reported to Diagnostics.
// Graph-level checks (unknown dependencies, cycles, template names) are the
// compiler's (compiler.cpp).
#pragma once

#include <optional>

#include "baton/dsl/dag.h"
#include "baton/dsl/diagnostics.h"
#include "baton/dsl/yaml_tree.h"

namespace baton::dsl {

// Returns the spec even when there were errors (as far as it could be read),
// so that the compiler can still report graph-level errors.
DagSpec parse_dag_spec(const YamlNode& root, Diagnostics& diag);

}  // namespace baton::dsl
