// Progress lines (SPEC §7): a task writes `0.42 loaded 4.2M of 10M rows` to
// BATON_PROGRESS_FILE — a fraction from 0 to 1, then free text. Pure
// functions: safe from any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace baton {

struct ProgressLine {
  double fraction = 0;  // 0 to 1
  std::string text;     // storable UTF-8, at most kMaxProgressText bytes
};

constexpr std::size_t kMaxProgressText = 200;
// How much of a progress file is read: its tail, where the latest line is.
constexpr std::size_t kProgressTail = 4096;

// The last non-blank line of `file_text`, read as a progress line; nullopt
// when there is none or it does not start with a number from 0 to 1 (a
// percentage such as `42%` is read as 0.42). Longer text is cut at a
// character boundary; bytes that are not UTF-8 become U+FFFD.
std::optional<ProgressLine> parse_progress(std::string_view file_text);

// The fraction and text as a worker sends them, checked: nullopt and `why`
// when the fraction is not a finite number from 0 to 1 or the text is
// longer than kMaxProgressText bytes or not UTF-8.
std::optional<ProgressLine> checked_progress(double fraction, const std::string& text, std::string& why);

}  // namespace baton
