// Progress lines and duration statistics (SPEC §7): what a task's
// BATON_PROGRESS_FILE says, read hostile; percentiles and the slow threshold.
#include <catch2/catch.hpp>

#include "baton/core/forecast.h"
#include "baton/core/progress.h"

using namespace baton;
using namespace std::chrono_literals;

TEST_CASE("progress: the last line with something on it, a fraction then text") {
  auto p = parse_progress("0.1 started\n0.42 loaded 4.2M of 10M rows\n\n  \n");
  REQUIRE(p);
  CHECK(p->fraction == Approx(0.42));
  CHECK(p->text == "loaded 4.2M of 10M rows");
  CHECK(parse_progress("1")->fraction == Approx(1));
  CHECK(parse_progress("1")->text.empty());
  CHECK(parse_progress("42% copying")->fraction == Approx(0.42));
  CHECK(parse_progress("\t0.5\tcrlf\r\n")->text == "crlf");
}

TEST_CASE("progress: anything else is not a progress line") {
  for (const char* bad : {"", "\n\n", "loading", "1.5 too far", "-0.1 below", "150%", "nan x", "inf", "0x1 hex",
                          "1e-1 exp", "0.5.5 two dots", "."})
    CHECK_FALSE(parse_progress(bad));
}

TEST_CASE("progress: long text is cut at a character boundary, bytes that are not UTF-8 replaced") {
  std::string text(kMaxProgressText - 1, 'x');
  text += "é and more";  // é would straddle the cut
  auto p = parse_progress("0.5 " + text);
  REQUIRE(p);
  CHECK(p->text.size() == kMaxProgressText - 1);
  CHECK(parse_progress(std::string("0.5 a\xff" "b"))->text == "a\xEF\xBF\xBD" "b");
  std::string why;
  CHECK_FALSE(checked_progress(1.01, "x", why));
  CHECK(why == "`fraction` must be a number from 0 to 1");
  CHECK_FALSE(checked_progress(0.5, std::string(kMaxProgressText + 1, 'x'), why));
  CHECK_FALSE(checked_progress(0.5, "a\xff", why));
  CHECK_FALSE(checked_progress(std::nan(""), "x", why));
  CHECK(checked_progress(0, "", why));
}

TEST_CASE("duration stats: nearest-rank percentiles of the history, newest last") {
  std::vector<double> newest_first = {10, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  auto s = duration_stats(newest_first);
  CHECK(s.count == 10);
  CHECK(s.p50 == 5);
  CHECK(s.p90 == 9);
  CHECK(s.p99 == 10);
  CHECK(s.last == 10);
  CHECK(duration_stats({}).count == 0);
  CHECK(duration_stats({7}).p90 == 7);
  // Slow past max(2 x p90, p90 + 1 min).
  CHECK(slow_after(10) == 70s);
  CHECK(slow_after(600) == 1200s);
  CHECK(seconds_to_duration(-1) == Duration(0));
  CHECK(seconds_to_duration(1.5) == 1500ms);
}
