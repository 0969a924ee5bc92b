#include "servers.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "baton/federation/keys.hpp"
#include "baton/federation/password.hpp"
#include "loopback/process.hpp"

namespace baton::soak {

namespace fs = std::filesystem;
using loopback::toml_list;
using loopback::toml_string;

std::uint64_t raise_fd_limit() {
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) != 0) return 0;
  if (r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &r);
  }
  ::getrlimit(RLIMIT_NOFILE, &r);
  return r.rlim_cur;
}

std::string password_hash(const std::string& password) {
  auto h = federation::hash_password(password);
  if (!h) throw std::runtime_error("cannot hash a password: " + h.error().message);
  return *h;
}

Server::Server(ServerConf conf) : conf_(std::move(conf)) {
  conf_.dir = fs::absolute(conf_.dir).string();
  fs::remove_all(conf_.dir);
  fs::create_directories(conf_.dir);
  port_ = loopback::free_port();
  if (conf_.federation) {
    auto pair = federation::generate_key_pair();
    if (auto st = federation::save_secret_key(conf_.dir + "/baton.key", pair); !st)
      throw std::runtime_error("cannot write the federation key: " + st.error().message);
    public_key_ = federation::format_public_key(pair.public_key);
  }
  write_config();
}

Server::~Server() { stop(); }

void Server::add_peer(PeerConf peer) {
  conf_.peers.push_back(std::move(peer));
  write_config();
}

void Server::write_config() const {
  std::ostringstream c;
  c << "organization = " << toml_string(conf_.organization) << "\n"
    << "public_url = " << toml_string(base_url()) << "\n"
    << "listen = " << toml_string("127.0.0.1:" + std::to_string(port_)) << "\n"
    << "data_dir = \"data\"\n"
    << "threads = " << conf_.threads << "\n\n"
    << "[limits]\n"
    << "# Every soak connection comes from a few loopback addresses, as from a proxy.\n"
    << "max_connections_per_ip = 1000000\n"
    << "ws_queue_messages = " << conf_.ws_queue_messages << "\n"
    << "ws_queue_bytes = " << std::max(1 << 20, conf_.ws_queue_messages * 1024) << "\n\n";
  if (conf_.federation) c << "[federation]\nkey_file = \"baton.key\"\n\n";
  for (const auto& q : conf_.queues) {
    c << "[[queues]]\nname = " << toml_string(q) << "\n\n";
    c << "[[sites]]\nname = " << toml_string(site_of(q)) << "\norigins = ["
      << toml_string("http://" + q + ".soak.test") << "]\nqueue = " << toml_string(q) << "\n\n";
  }
  for (const auto& a : conf_.agents) {
    c << "[[agents]]\nname = " << toml_string(a.name) << "\npassword_hash = " << toml_string(conf_.password_hash)
      << "\nqueues = " << toml_list(a.queues) << "\ncapacity = " << a.capacity << "\n\n";
  }
  for (const auto& p : conf_.peers) {
    c << "[[peers]]\nname = " << toml_string(p.name) << "\ndisplay_name = " << toml_string(p.display_name)
      << "\nbase_url = " << toml_string(p.base_url) << "\npublic_keys = [" << toml_string(p.public_key)
      << "]\nqueues = " << toml_list(p.queues) << "\n\n";
  }
  std::ofstream(conf_.dir + "/config.toml") << c.str();
}

void Server::start(int timeout_s) {
  if (pid_ > 0) return;
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  // No server outlives the soak, even when the soak crashes (see spawn()).
  pid_ = loopback::spawn({fs::absolute(conf_.baton).string(), "serve", "--config", conf_.dir + "/config.toml"}, out[1]);
  ::close(out[1]);
  if (pid_ < 0) {
    ::close(out[0]);
    throw std::runtime_error("fork failed");
  }
  {
    std::lock_guard lock(mu_);
    listening_ = false;
    eof_ = false;
  }
  log_thread_ = std::thread([this, fd = out[0]] { pump_log(fd); });
  std::unique_lock lock(mu_);
  bool ready = cv_.wait_for(lock, std::chrono::seconds(timeout_s), [this] { return listening_ || eof_; });
  bool up = listening_;
  lock.unlock();
  if (!up) {
    stop();
    std::ifstream in(log_path());
    std::stringstream ss;
    ss << in.rdbuf();
    throw std::runtime_error(conf_.organization + ": baton serve " +
                             (ready ? "exited at start" : "did not start in time") + "; its log:\n" + ss.str());
  }
}

// Copies the server's output to its log file, and tells start() when the
// server says it listens (app.cpp logs "... listening on HOST:PORT").
void Server::pump_log(int fd) {
  std::ofstream log(log_path(), std::ios::app);
  std::string pending;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    log.write(buf, n);
    log.flush();
    bool was = false;
    {
      std::lock_guard lock(mu_);
      was = listening_;
    }
    if (!was) {
      pending.append(buf, static_cast<std::size_t>(n));
      if (pending.find(" listening on ") != std::string::npos) {
        std::lock_guard lock(mu_);
        listening_ = true;
        cv_.notify_all();
      }
    }
  }
  ::close(fd);
  std::lock_guard lock(mu_);
  eof_ = true;
  cv_.notify_all();
}

bool Server::exited() const {
  if (pid_ <= 0) return exit_status_ >= 0;
  std::lock_guard lock(mu_);
  return eof_;
}

int Server::stop() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    int status = 0;
    {
      // The output closes when the process ends: wait for that, then reap it.
      std::unique_lock lock(mu_);
      if (!cv_.wait_for(lock, std::chrono::seconds(20), [this] { return eof_; })) {
        lock.unlock();
        ::kill(pid_, SIGKILL);
      }
    }
    ::waitpid(pid_, &status, 0);
    exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    pid_ = -1;
  }
  if (log_thread_.joinable()) log_thread_.join();
  return exit_status_;
}

std::int64_t Server::rss_bytes() const {
  if (pid_ <= 0) return -1;
  std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6)) * 1024;  // "VmRSS:   1234 kB"
  }
  return -1;
}

std::int64_t Server::open_fds() const {
  if (pid_ <= 0) return -1;
  std::error_code ec;
  std::int64_t n = 0;
  for (fs::directory_iterator it("/proc/" + std::to_string(pid_) + "/fd", ec), end; !ec && it != end;
       it.increment(ec))
    ++n;
  return ec ? -1 : n;
}

}  // namespace baton::soak
