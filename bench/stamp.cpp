// W2's shell task (BENCHMARKS.md): stamps its own start and end, so a hop is
// the next task's own start stamp minus this task's own end stamp.
// Usage: bench_stamp FILE  -> writes "START_NS END_NS\n" (CLOCK_REALTIME).
#include <cstdio>
#include <ctime>

namespace {
long long now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<long long>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}
}  // namespace

int main(int argc, char** argv) {
  long long start = now_ns();
  if (argc != 2) {
    std::fprintf(stderr, "usage: bench_stamp FILE\n");
    return 2;
  }
  std::FILE* f = std::fopen(argv[1], "w");
  if (!f) return 1;
  std::fprintf(f, "%lld %lld\n", start, now_ns());
  return std::fclose(f) == 0 ? 0 : 1;
}
