#include "sysinfo.hpp"

#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace baton::bench {

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::int64_t self_cpu_ns() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto ns = [](const timeval& tv) { return static_cast<std::int64_t>(tv.tv_sec) * 1'000'000'000 + tv.tv_usec * 1000; };
  return ns(ru.ru_utime) + ns(ru.ru_stime);
}

static std::int64_t stat_cpu_ns(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!std::getline(in, line)) return -1;
  // The command name is in parentheses and may hold spaces: fields count from after it.
  auto close = line.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream fields(line.substr(close + 2));
  std::string f;
  long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> f; ++i) {
    if (i == 14) utime = std::stoll(f);
    if (i == 15) stime = std::stoll(f);
  }
  static const long hz = sysconf(_SC_CLK_TCK);
  return (utime + stime) * (1'000'000'000LL / hz);
}

std::int64_t process_cpu_ns(pid_t pid) { return stat_cpu_ns("/proc/" + std::to_string(pid) + "/stat"); }


std::vector<std::pair<pid_t, std::int64_t>> thread_cpu_ns(pid_t pid) {
  std::vector<std::pair<pid_t, std::int64_t>> out;
  std::error_code ec;
  std::string dir = "/proc/" + std::to_string(pid) + "/task";
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    pid_t tid = static_cast<pid_t>(std::stol(e.path().filename().string()));
    std::int64_t ns = stat_cpu_ns(e.path().string() + "/stat");
    if (ns >= 0) out.emplace_back(tid, ns);
  }
  std::sort(out.begin(), out.end());
  return out;
}

ProcessIo process_io(pid_t pid) {
  ProcessIo io;
  std::ifstream in("/proc/" + std::to_string(pid) + "/io");
  std::string key;
  long long v;
  while (in >> key >> v) {
    if (key == "wchar:") io.wchar = v;
    else if (key == "write_bytes:") io.write_bytes = v;
    else if (key == "syscw:") io.syscw = v;
  }
  return io;
}

std::int64_t machine_busy_ns() {
  std::ifstream in("/proc/stat");
  std::string cpu;
  long long user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
  in >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal;
  static const long hz = sysconf(_SC_CLK_TCK);
  return (user + nice + system + irq + softirq + steal) * (1'000'000'000LL / hz);
}

std::string thread_name(pid_t pid, pid_t tid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/comm");
  std::string name;
  std::getline(in, name);
  return name;
}

std::string baton_thread_label(std::size_t i, const std::string& name) {
  // The store's threads name themselves (src/storage/sqlite_store.cpp).
  if (name == "store-writer") return "store writer";
  if (name == "store-ckpt") return "store checkpointer";
  if (name == "store-sync") return "store syncer";
  if (i == 0) return "network (main)";
  if (i <= 2) return "blocking pool";
  if (i <= 6) return "peer pool";
  return "network";
}

std::int64_t process_rss_bytes(pid_t pid) {
  std::ifstream in(pid == 0 ? std::string("/proc/self/status") : "/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6)) * 1024;
  }
  return -1;
}

Machine machine() {
  Machine m;
  m.nproc = static_cast<int>(std::thread::hardware_concurrency());
  std::ifstream cpu("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpu, line)) {
    if (line.rfind("model name", 0) == 0) {
      auto colon = line.find(':');
      if (colon != std::string::npos) m.model_name = line.substr(colon + 2);
      break;
    }
  }
  std::ifstream mem("/proc/meminfo");
  while (std::getline(mem, line)) {
    if (line.rfind("MemTotal:", 0) == 0) {
      m.mem_total_bytes = std::stoll(line.substr(9)) * 1024;
      break;
    }
  }
  utsname u{};
  if (uname(&u) == 0) m.kernel = std::string(u.sysname) + " " + u.release;
  double load[1] = {0};
  if (getloadavg(load, 1) == 1) m.loadavg_1m = load[0];
  return m;
}

std::uint64_t raise_fd_limit() {
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  getrlimit(RLIMIT_NOFILE, &rl);
  return rl.rlim_cur;
}

}  // namespace baton::bench
