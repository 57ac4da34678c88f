// Durations as written in DAG files: `45s`, `5m`, `2h`, `1d`, `1h30m`, or an
// integer number of seconds. A duration is absolute time (`1d` is 24 hours).
#pragma once

#include <string>
#include <string_view>

#include "baton/core/result.h"
#include "baton/core/time.h"

namespace baton {

// Units in descending order (d, h, m, s), each at most once; an optional leading
// `-` for signed durations such as `logical_date_offset: -1d` when allow_negative.
Result<Duration> parse_duration(std::string_view text, bool allow_negative = false);

// The shortest form that parses back to the same value: `1h30m`, `45s`, `0s`.
std::string format_duration(Duration d);

}  // namespace baton
