// hostile_client: the clients of SPEC §12's threat model, against a running
// server on 127.0.0.1, for tests/security/http_test.sh. Plain sockets, so that
// it can do what a well-behaved HTTP library will not.
//
//   hostile_client hold PORT idle|slow N SECONDS
//       opens N connections that send nothing (idle) or one header line every
//       2 s and never finish (slow), and meanwhile times GET /api/v1/health on
//       a fresh connection every 250 ms. Prints `health_max_ms=`,
//       `health_p50_ms=`, `health_failed=`, `opened=`, `dropped=` (connections
//       the server closed) and `dropped_first_s=` / `dropped_last_s=` (when).
//   hostile_client send PORT [SECONDS]
//       sends stdin as it is, then prints what comes back until the server
//       closes or SECONDS (default 3) pass without a byte.
//   hostile_client flood PORT range|headers PARALLEL
//       range: PARALLEL requests at once, each with a Range header of 2,700
//       ranges; headers: PARALLEL requests at once, each sending 60,000
//       header lines of 8 KB for as long as the server reads them. Prints
//       `received_bytes=` (the answers), `sent_bytes=` (what the kernel
//       took, the server's lingering read included) and `answers_431=`.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

int connect_to(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

bool send_all(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

// Reads until the peer closes or `quiet_ms` pass without a byte.
std::string read_until_quiet(int fd, int quiet_ms) {
  std::string out;
  char buf[65536];
  while (true) {
    pollfd p{fd, POLLIN, 0};
    int r = ::poll(&p, 1, quiet_ms);
    if (r <= 0) break;
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

// One GET /api/v1/health on a fresh connection: milliseconds, or -1.
double time_health(int port) {
  auto start = Clock::now();
  int fd = connect_to(port);
  if (fd < 0) return -1;
  std::string answer;
  if (send_all(fd, "GET /api/v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")) {
    char buf[65536];
    while (true) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 5000) <= 0) break;
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      answer.append(buf, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  if (answer.rfind("HTTP/1.1 200", 0) != 0) return -1;
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

int hold(int port, const std::string& mode, int n, int seconds) {
  std::vector<int> fds;
  std::vector<double> dropped_at;
  auto start = Clock::now();
  for (int i = 0; i < n; ++i) {
    int fd = connect_to(port);
    if (fd < 0) break;
    if (mode == "slow") send_all(fd, "GET /api/v1/health HTTP/1.1\r\n");
    fds.push_back(fd);
  }
  int opened = static_cast<int>(fds.size());
  std::vector<double> health;
  int failed = 0;
  auto next_line = Clock::now() + std::chrono::seconds(2);
  auto end = start + std::chrono::seconds(seconds);
  while (Clock::now() < end) {
    // Which connections did the server close?
    std::vector<pollfd> ps;
    for (int fd : fds) ps.push_back({fd, POLLIN, 0});
    ::poll(ps.data(), ps.size(), 0);
    std::vector<int> still;
    for (auto& p : ps) {
      bool closed = false;
      if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
        char buf[4096];
        ssize_t r = ::recv(p.fd, buf, sizeof buf, MSG_DONTWAIT);
        closed = r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
      }
      if (closed) {
        dropped_at.push_back(std::chrono::duration<double>(Clock::now() - start).count());
        ::close(p.fd);
      } else {
        still.push_back(p.fd);
      }
    }
    fds.swap(still);
    if (mode == "slow" && Clock::now() >= next_line) {
      for (int fd : fds) send_all(fd, "X-Slow: " + std::to_string(rand()) + "\r\n");
      next_line += std::chrono::seconds(2);
    }
    double ms = time_health(port);
    if (ms < 0) ++failed;
    else health.push_back(ms);
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  for (int fd : fds) ::close(fd);
  std::sort(health.begin(), health.end());
  std::printf("opened=%d\n", opened);
  std::printf("health_samples=%zu\n", health.size());
  std::printf("health_failed=%d\n", failed);
  std::printf("health_max_ms=%.1f\n", health.empty() ? -1.0 : health.back());
  std::printf("health_p50_ms=%.1f\n", health.empty() ? -1.0 : health[health.size() / 2]);
  std::printf("dropped=%zu\n", dropped_at.size());
  std::printf("dropped_first_s=%.1f\n", dropped_at.empty() ? -1.0 : dropped_at.front());
  std::printf("dropped_last_s=%.1f\n", dropped_at.empty() ? -1.0 : dropped_at.back());
  return 0;
}

int send_stdin(int port, int seconds) {
  std::string input((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  int fd = connect_to(port);
  if (fd < 0) {
    std::fprintf(stderr, "cannot connect to port %d\n", port);
    return 3;
  }
  send_all(fd, input);  // the server may close before it has read all of it
  std::string out = read_until_quiet(fd, seconds * 1000);
  ::close(fd);
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

int flood(int port, const std::string& kind, int parallel) {
  std::vector<long long> received(parallel), sent(parallel);
  std::vector<int> refused(parallel);
  std::vector<std::thread> threads;
  for (int t = 0; t < parallel; ++t)
    threads.emplace_back([&, t] {
      int fd = connect_to(port);
      if (fd < 0) return;
      if (kind == "range") {
        std::string ranges = "bytes=0-";
        for (int i = 1; i < 2700; ++i) ranges += ",0-";
        std::string req = "GET /api/v1/openapi.json HTTP/1.1\r\nHost: x\r\nRange: " + ranges +
                          "\r\nConnection: close\r\n\r\n";
        send_all(fd, req);
        sent[t] = static_cast<long long>(req.size());
      } else {
        send_all(fd, "GET /api/v1/health HTTP/1.1\r\nHost: x\r\n");
        std::string line = "X-Flood: " + std::string(8192, 'v') + "\r\n";
        for (int i = 0; i < 60000; ++i) {
          if (!send_all(fd, line)) break;
          sent[t] += static_cast<long long>(line.size());
        }
      }
      std::string answer = read_until_quiet(fd, 3000);
      received[t] = static_cast<long long>(answer.size());
      refused[t] = answer.rfind("HTTP/1.1 431", 0) == 0;
      ::close(fd);
    });
  for (auto& th : threads) th.join();
  long long r = 0, s = 0;
  int answers_431 = 0;
  for (int t = 0; t < parallel; ++t) r += received[t], s += sent[t], answers_431 += refused[t];
  std::printf("received_bytes=%lld\nsent_bytes=%lld\nanswers_431=%d\n", r, s, answers_431);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  rlimit r{};  // a thousand connections need a thousand descriptors
  if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
  }
  std::vector<std::string> a(argv + 1, argv + argc);
  if (a.size() >= 5 && a[0] == "hold") return hold(std::atoi(a[1].c_str()), a[2], std::atoi(a[3].c_str()), std::atoi(a[4].c_str()));
  if (a.size() >= 2 && a[0] == "send") return send_stdin(std::atoi(a[1].c_str()), a.size() > 2 ? std::atoi(a[2].c_str()) : 3);
  if (a.size() >= 4 && a[0] == "flood") return flood(std::atoi(a[1].c_str()), a[2], std::atoi(a[3].c_str()));
  std::fprintf(stderr,
               "usage: hostile_client hold PORT idle|slow N SECONDS | send PORT [SECONDS] | "
               "flood PORT range|headers PARALLEL\n");
  return 2;
}
