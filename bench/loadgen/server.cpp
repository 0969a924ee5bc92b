#include "server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "loopback/process.hpp"
#include "sysinfo.hpp"
#include "util.hpp"

extern char** environ;

namespace baton::bench {

namespace fs = std::filesystem;
using loopback::toml_list;
using loopback::toml_string;

namespace {
// Process groups of wrapped servers, for stop_all_servers() in a signal handler.
constexpr int kMaxGroups = 16;
volatile sig_atomic_t groups[kMaxGroups] = {};
void remember_group(pid_t g) {
  for (auto& slot : groups)
    if (slot == 0) {
      slot = g;
      return;
    }
}
void forget_group(pid_t g) {
  for (auto& slot : groups)
    if (slot == g) slot = 0;
}
}  // namespace

void stop_all_servers() {
  for (auto& slot : groups)
    if (slot > 0) ::kill(-slot, SIGTERM);
}

int run_command(const std::vector<std::string>& argv, const std::string& input, std::string& output) {
  int in_pipe[2], out_pipe[2];
  if (pipe2(in_pipe, O_CLOEXEC) != 0 || pipe2(out_pipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in_pipe[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 2);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid;
  int rc = posix_spawn(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(in_pipe[0]);
  ::close(out_pipe[1]);
  if (rc != 0) {
    ::close(in_pipe[1]);
    ::close(out_pipe[0]);
    throw std::runtime_error("cannot run " + argv[0]);
  }
  if (!input.empty() && ::write(in_pipe[1], input.data(), input.size()) < 0) { /* the child reports it */ }
  ::close(in_pipe[1]);
  output.clear();
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(out_pipe[0], buf, sizeof buf);
    if (n <= 0) break;
    output.append(buf, static_cast<std::size_t>(n));
  }
  ::close(out_pipe[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

ServerProcess::ServerProcess(ServerSpec spec) : spec_(std::move(spec)) {
  if (spec_.port == 0) spec_.port = loopback::free_port();
  spec_.dir = fs::absolute(spec_.dir).string();
  fs::remove_all(spec_.dir);
  fs::create_directories(spec_.dir);
  std::string out;
  if (spec_.federation) {
    std::string key = spec_.dir + "/baton.key";
    if (run_command({spec_.baton, "keygen", "--out", key}, "", out) != 0)
      throw std::runtime_error("baton keygen failed: " + out);
    std::smatch m;
    if (!std::regex_search(out, m, std::regex("public key: (ed25519:[A-Za-z0-9+/=]+)")))
      throw std::runtime_error("baton keygen: no public key in: " + out);
    public_key_ = m[1];
  }
  if (!spec_.agents.empty()) {
    // One agent through the admin command, which hashes the password with Argon2id;
    // the others share that hash (hashing each costs a noticeable fraction of a second).
    write_config();
    const AgentSpec& first = spec_.agents.front();
    std::string qs;
    for (const auto& q : first.queues) qs += (qs.empty() ? "" : ",") + q;
    if (run_command({spec_.baton, "agent", "add", "--config", config_path(), "--name", first.name, "--queues", qs,
                     "--capacity", std::to_string(first.capacity), "--password-stdin"},
                    spec_.password + "\n", out) != 0)
      throw std::runtime_error("baton agent add failed: " + out);
    std::smatch m;
    std::string written = read_file(config_path());
    if (!std::regex_search(written, m, std::regex("password_hash = \"([^\"]+)\"")))
      throw std::runtime_error("no password_hash in " + config_path());
    password_hash_ = m[1];
  }
  write_config();
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) stop();
}

void ServerProcess::add_peers(const std::vector<PeerSpec>& peers) {
  for (const auto& p : peers) spec_.peers.push_back(p);
  write_config();
}

void ServerProcess::write_config() {
  std::ostringstream c;
  c << "organization = " << toml_string(spec_.organization) << "\n"
    << "public_url = " << toml_string(base_url()) << "\n"
    << "listen = " << toml_string("127.0.0.1:" + std::to_string(spec_.port)) << "\n"
    << "data_dir = \"data\"\n"
    << "threads = " << spec_.threads << "\n\n"
    << "[limits]\n"
    << "# Every benchmark connection comes from a few loopback addresses, as from a proxy.\n"
    << "max_connections_per_ip = 1000000\n"
    << "idle_timeout_s = " << spec_.idle_timeout_s << "\n";
  if (spec_.ws_queue_messages > 0) c << "ws_queue_messages = " << spec_.ws_queue_messages << "\n";
  c << "\n";
  if (spec_.federation) {
    c << "[federation]\nkey_file = \"baton.key\"\n\n";
  }
  for (const auto& q : spec_.queues) c << "[[queues]]\nname = " << toml_string(q) << "\n\n";
  for (std::size_t i = 0; i < spec_.site_queues.size(); ++i) {
    c << "[[sites]]\nname = " << toml_string("site" + std::to_string(i)) << "\norigins = ["
      << toml_string("http://site" + std::to_string(i) + ".bench.test") << "]\nqueue = " << toml_string(spec_.site_queues[i])
      << "\n\n";
  }
  // Before the hash exists only the first agent is left out: `agent add` writes it.
  if (!password_hash_.empty()) {
    for (const auto& a : spec_.agents) {
      c << "[[agents]]\nname = " << toml_string(a.name) << "\npassword_hash = " << toml_string(password_hash_)
        << "\nqueues = " << toml_list(a.queues) << "\ncapacity = " << a.capacity << "\n\n";
    }
  }
  for (const auto& p : spec_.peers) {
    c << "[[peers]]\nname = " << toml_string(p.name) << "\ndisplay_name = " << toml_string(p.display_name)
      << "\nbase_url = " << toml_string(p.base_url) << "\npublic_keys = [" << toml_string(p.public_key)
      << "]\nqueues = " << toml_list(p.queues) << "\n\n";
  }
  std::ofstream(config_path()) << c.str();
}

void ServerProcess::start() {
  if (pid_ > 0) return;
  int log = ::open(log_path().c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log < 0) throw std::runtime_error("cannot write " + log_path());
  std::vector<std::string> argv;
  std::istringstream wrapper(spec_.wrapper);
  for (std::string w; wrapper >> w;) argv.push_back(w);
  bool wrapped = !argv.empty();
  for (auto s : {fs::absolute(spec_.baton).string(), std::string("serve"), std::string("--config"), config_path()})
    argv.push_back(s);
  // Under a wrapper the server gets a process group of its own, so that stop()
  // can signal the wrapper and the server together; without one it stays in ours,
  // so that Ctrl-C at the terminal stops it too. Either way it is sent SIGTERM if
  // the load generator dies, so that no server outlives a crash.
  pid_ = loopback::spawn(argv, log, wrapped);
  ::close(log);
  if (pid_ < 0) throw std::runtime_error("cannot start " + spec_.baton + ": fork failed");
  wrapped_ = wrapped;
  if (wrapped) remember_group(pid_);
  // Ready when it accepts a TCP connection and answers /healthz.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("baton serve exited at start; see " + log_path() + ":\n" + read_file(log_path()));
    }
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(spec_.port);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
      const char req[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
      if (::write(fd, req, sizeof req - 1) > 0) {
        char buf[64] = {};
        ssize_t n = ::read(fd, buf, sizeof buf - 1);
        if (n > 0 && std::string(buf).find(" 200 ") != std::string::npos) {
          ::close(fd);
          serve_pid_ = wrapped ? find_serve_pid() : pid_;
          bench::log(spec_.organization + ": baton serve pid " + std::to_string(serve_pid_) + " on " + base_url());
          return;
        }
      }
    }
    ::close(fd);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  stop();
  throw std::runtime_error("baton serve did not answer /healthz within 30 s; see " + log_path());
}

pid_t ServerProcess::find_serve_pid() const {
  // The process of our group that runs the baton binary.
  std::string exe = fs::canonical(spec_.baton).string();
  for (const auto& e : fs::directory_iterator("/proc")) {
    std::string name = e.path().filename().string();
    if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
    pid_t p = static_cast<pid_t>(std::stol(name));
    std::error_code ec;
    if (getpgid(p) == pid_ && fs::read_symlink(e.path() / "exe", ec).string() == exe) return p;
  }
  return pid_;
}

int ServerProcess::stop() {
  if (pid_ <= 0) return 0;
  // Under a wrapper, the whole group: the wrapper (heaptrack, valgrind) and the server.
  pid_t target = wrapped_ ? -pid_ : pid_;
  ::kill(target, SIGTERM);
  int status = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  for (;;) {
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) break;
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(target, SIGKILL);
      waitpid(pid_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (wrapped_) forget_group(pid_);
  pid_ = -1;
  serve_pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::int64_t ServerProcess::rss_bytes() const { return serve_pid_ > 0 ? process_rss_bytes(serve_pid_) : -1; }
std::int64_t ServerProcess::cpu_ns() const { return serve_pid_ > 0 ? process_cpu_ns(serve_pid_) : -1; }

}  // namespace baton::bench
