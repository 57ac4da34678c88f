// W3, cold-load part (BENCHMARKS.md): generate N DAG files of mixed sizes with
// `*/1 * * * *` and `every 1m` schedules, then time `baton dags validate DIR`
// (read + parse + check + compile every file) as a child process, several
// times, and report medians with peak memory. Baseline measured in the same
// run: reading and parsing the same files with yaml-cpp's plain node API and
// nothing else, so the ratio is Baton's cost over bare YAML parsing.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace fs = std::filesystem;

namespace {

struct Options {
  std::string baton = "build/baton";
  int files = 10000;
  int runs = 5;
  std::string dir;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// Mixed sizes: 80 % small (1-10 tasks), 18 % medium (11-50), 2 % large (51-300):
// about 13 tasks per DAG on average.
int pick_tasks(std::mt19937& rng) {
  int r = static_cast<int>(rng() % 100);
  if (r < 80) return 1 + static_cast<int>(rng() % 10);
  if (r < 98) return 11 + static_cast<int>(rng() % 40);
  return 51 + static_cast<int>(rng() % 250);
}

long long generate(const Options& o) {
  std::mt19937 rng(42);
  long long tasks_total = 0;
  fs::create_directories(o.dir);
  for (int i = 0; i < o.files; ++i) {
    int n = pick_tasks(rng);
    tasks_total += n;
    fs::path sub = fs::path(o.dir) / ("team" + std::to_string(i % 20));
    fs::create_directories(sub);
    std::ofstream f(sub / ("dag_" + std::to_string(i) + ".yaml"));
    f << "dag: bench_" << i << "\n"
      << "description: generated DAG " << i << " with " << n << " tasks\n"
      << "owner: team" << i % 20 << "\n"
      << "tags: [bench, team" << i % 20 << "]\n"
      << "schedule: " << (i % 2 ? "\"*/1 * * * *\"" : "every 1m") << "\n"
      << "timezone: " << (i % 3 == 0 ? "Europe/Berlin" : "UTC") << "\n"
      << "start_date: 2026-01-01\n"
      << "params: { region: eu, limit: 100 }\n"
      << "defaults:\n  retries: 2\n  retry_delay: 30s\n"
      << "tasks:\n";
    for (int t = 0; t < n; ++t) {
      f << "  t" << t << ":\n";
      if (t % 5 == 4)
        f << "    type: noop\n";
      else
        f << "    command: ./step.sh {{ ds }} {{ params.region }} " << t << "\n";
      if (t > 0) {
        f << "    depends_on: [t" << (t - 1);
        if (t > 3 && t % 3 == 0) f << ", t" << rng() % static_cast<unsigned>(t - 1);
        f << "]\n";
      }
      if (t % 7 == 0) f << "    timeout: 20m\n";
    }
  }
  return tasks_total;
}

struct ChildRun {
  double seconds;
  long peak_rss_kib;
  int exit_code;
};

ChildRun run_child(const std::vector<std::string>& argv) {
  auto start = std::chrono::steady_clock::now();
  pid_t pid = fork();
  if (pid == 0) {
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    int devnull = ::open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    dup2(devnull, 2);
    execv(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  rusage ru{};
  wait4(pid, &status, 0, &ru);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return {secs, ru.ru_maxrss, WIFEXITED(status) ? WEXITSTATUS(status) : -1};
}

double yaml_cpp_baseline(const std::string& dir) {
  auto start = std::chrono::steady_clock::now();
  size_t nodes = 0;
  for (auto& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    YAML::Node n = YAML::LoadFile(e.path().string());
    nodes += n["tasks"].size();
  }
  if (nodes == 0) std::fprintf(stderr, "baseline read no tasks\n");
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--baton") o.baton = next();
    else if (a == "--files") o.files = std::atoi(next().c_str());
    else if (a == "--runs") o.runs = std::atoi(next().c_str());
    else if (a == "--dir") o.dir = next();
    else {
      std::fprintf(stderr, "usage: bench_compile [--baton PATH] [--files N] [--runs N] [--dir DIR]\n");
      return 2;
    }
  }
  if (o.files < 1 || o.runs < 1) {
    std::fprintf(stderr, "--files and --runs must be positive\n");
    return 2;
  }
  bool own_dir = o.dir.empty();
  if (own_dir) o.dir = (fs::temp_directory_path() / ("baton-bench-" + std::to_string(getpid()))).string();
  long long tasks = generate(o);

  std::vector<double> times, base;
  long peak = 0;
  for (int r = 0; r < o.runs; ++r) {
    base.push_back(yaml_cpp_baseline(o.dir));
    ChildRun c = run_child({o.baton, "dags", "validate", o.dir});
    if (c.exit_code != 0) {
      std::fprintf(stderr, "baton dags validate exited %d\n", c.exit_code);
      return 1;
    }
    times.push_back(c.seconds);
    peak = std::max(peak, c.peak_rss_kib);
  }
  if (own_dir) fs::remove_all(o.dir);
  double m = median(times), b = median(base);
  std::printf(
      "{\"workload\": \"W3-cold-load\", \"files\": %d, \"tasks\": %lld, \"runs\": %d, "
      "\"median_seconds\": %.3f, \"files_per_second\": %.0f, \"tasks_per_second\": %.0f, "
      "\"peak_rss_mib\": %.1f, \"baton_threads\": %u, \"baseline_yaml_cpp_1_thread_median_seconds\": %.3f, "
      "\"ratio_to_baseline\": %.2f}\n",
      o.files, tasks, o.runs, m, o.files / m, static_cast<double>(tasks) / m, peak / 1024.0,
      std::max(1u, std::thread::hardware_concurrency()), b, m / b);
  return 0;
}
