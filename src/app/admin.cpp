#include "baton/app/admin.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <exception>
#include <filesystem>
#include <functional>
#include <iostream>

#include "baton/app/config.hpp"
#include "baton/core/text.hpp"
#include "baton/federation/password.hpp"
#include "baton/storage/offline.hpp"

namespace baton::app {
namespace {

namespace fs = std::filesystem;
using core::Errc;
using core::Error;
using core::Status;

// Well-formed but matches no password: lets agent_add check every other field
// before paying for a real hash.
constexpr std::string_view kPlaceholderHash =
    "$argon2id$v=19$m=65536,t=2,p=1$AAAAAAAAAAAAAAAAAAAAAA$"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

Error io_error(const std::string& what, const std::string& path, int err) {
  return Error{Errc::unavailable, what + " " + path + ": " + std::strerror(err)};
}

Status write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error{Errc::unavailable, std::strerror(errno)};
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return core::ok_status();
}

// Replaces `path` with `contents` so that a reader (or a crash) sees either the
// old file or the new one, never a mix.
Status replace_file(const std::string& path, std::string_view contents) {
  std::error_code ec;
  const fs::path target = fs::canonical(path, ec);
  if (ec) return Error{Errc::unavailable, "cannot resolve " + path + ": " + ec.message()};
  struct stat st {};
  if (::stat(target.c_str(), &st) != 0) return io_error("cannot stat", target.string(), errno);

  // Same folder, so that rename() is atomic; hidden, so that a glob of *.toml
  // does not pick it up.
  std::string tmp = (target.parent_path() / ("." + target.filename().string() + ".XXXXXX")).string();
  const int fd = ::mkostemp(tmp.data(), O_CLOEXEC);
  if (fd < 0) return io_error("cannot create a temporary file beside", target.string(), errno);

  auto fail = [&](Error e) {
    ::close(fd);
    ::unlink(tmp.c_str());
    return e;
  };
  if (auto s = write_all(fd, contents); !s) {
    return fail(Error{Errc::unavailable, "cannot write " + tmp + ": " + s.error().message});
  }
  // mkostemp makes 0600; give the new file the old one's mode. The owner can
  // only be kept by root (or when it is us already); a failure there is fine.
  if (::fchmod(fd, st.st_mode & 07777) != 0) return fail(io_error("cannot chmod", tmp, errno));
  if (::fchown(fd, st.st_uid, st.st_gid) != 0) {
    // Not root: the file now belongs to whoever ran the command.
  }
  if (::fsync(fd) != 0) return fail(io_error("cannot sync", tmp, errno));
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return io_error("cannot close", tmp, err);
  }
  if (::rename(tmp.c_str(), target.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return io_error("cannot replace", target.string(), err);
  }
  // Make the rename itself durable.
  const int dir = ::open(target.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  return core::ok_status();
}

// Load, change, validate strictly, check that the text reads back the same, replace.
Status edit_config(const std::string& path, const std::function<Status(Config&)>& change,
                   CheckOptions load_options = {}) {
  auto loaded = load_config(path, load_options);
  if (!loaded) return loaded.error();
  Config config = std::move(loaded).value();
  if (auto s = change(config); !s) return s;
  if (auto s = validate_config(config); !s) return s;
  const std::string text = to_toml(config);
  auto reread = parse_config(text, config.config_dir);
  if (!reread || !(*reread == config)) {
    return Error{Errc::internal, "the rewritten config does not read back the same" +
                                     (reread ? std::string() : ": " + reread.error().message)};
  }
  return replace_file(path, text);
}

core::Result<std::string> hash(std::string_view password) {
  try {
    return federation::hash_password(password);
  } catch (const std::exception& e) {
    return Error{Errc::internal, e.what()};
  }
}

// One line of at most kMaxPasswordBytes, without its line end.
core::Result<std::string> read_line(std::istream& in) {
  std::string line;
  bool ended = false;
  char c = 0;
  while (in.get(c)) {
    if (c == '\n') {
      ended = true;
      break;
    }
    if (line.size() > federation::kMaxPasswordBytes) {
      return Error{Errc::too_large, "password: must be at most " +
                                        std::to_string(federation::kMaxPasswordBytes) + " bytes"};
    }
    line += c;
  }
  if (!ended && line.empty()) return Error{Errc::bad_request, "password: no input"};
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.size() > federation::kMaxPasswordBytes) {
    return Error{Errc::too_large, "password: must be at most " +
                                      std::to_string(federation::kMaxPasswordBytes) + " bytes"};
  }
  if (line.empty()) return Error{Errc::bad_request, "password: must not be empty"};
  return line;
}

// Echo off on standard input for its lifetime.
class EchoOff {
 public:
  explicit EchoOff(const termios& saved) : saved_(saved) {
    termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    quiet.c_lflag |= ECHONL;  // still move to the next line on Enter
    ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
  }
  ~EchoOff() { ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_); }
  EchoOff(const EchoOff&) = delete;
  EchoOff& operator=(const EchoOff&) = delete;

 private:
  termios saved_;
};

}  // namespace

core::Status agent_add(const std::string& config_path, const AgentAddArgs& args) {
  return edit_config(config_path, [&](Config& config) -> Status {
    if (config.find_agent(args.name) != nullptr) {
      return Error{Errc::conflict, "agent " + args.name + " already exists"};
    }
    config.agents.push_back(AgentConfig{args.name, args.display_name,
                                        std::string(kPlaceholderHash), args.queues,
                                        args.capacity});
    // Refuse a bad name or queue before spending a real hash on it.
    Config check = config;
    if (auto s = validate_config(check); !s) return s;
    auto hashed = hash(args.password);
    if (!hashed) return hashed.error();
    config.agents.back().password_hash = std::move(hashed).value();
    return core::ok_status();
  });
}

core::Status agent_passwd(const std::string& config_path, const std::string& name,
                          std::string_view password) {
  std::string data_dir;
  const auto change = [&](Config& config) -> Status {
    AgentConfig* agent = config.find_agent(name);
    if (agent == nullptr) return Error{Errc::not_found, "agent " + name + " does not exist"};
    auto hashed = hash(password);
    if (!hashed) return hashed.error();
    agent->password_hash = std::move(hashed).value();
    data_dir = config.data_dir;
    return core::ok_status();
  };
  // Load leniently so that a bad hash can be replaced; the result is checked strictly.
  if (auto st = edit_config(config_path, change, CheckOptions{.password_hashes = false}); !st) return st;
  // Whoever signed in with the old password must sign in again.
  const fs::path db_path = fs::path(data_dir) / "baton.db";
  std::error_code ec;
  if (!fs::exists(db_path, ec)) return core::ok_status();
  if (auto st = storage::end_agent_sessions(db_path.string(), name); !st)
    return Error{st.error().code, "the password was changed, but " + name + "'s sessions could not be ended: " +
                                      st.error().message};
  return core::ok_status();
}

core::Status queue_add(const std::string& config_path, const std::string& name,
                       const std::string& display_name) {
  return edit_config(config_path, [&](Config& config) -> Status {
    for (const auto& q : config.queues) {
      if (core::ascii_lower(q.name) == core::ascii_lower(name)) {
        return Error{Errc::conflict, "queue " + q.name + " already exists"};
      }
    }
    config.queues.push_back(QueueConfig{name, display_name});
    return core::ok_status();
  });
}

core::Result<std::string> read_password(std::istream& in, bool from_tty) {
  if (!from_tty) return read_line(in);

  termios saved{};
  if (::isatty(STDIN_FILENO) == 0 || ::tcgetattr(STDIN_FILENO, &saved) != 0) {
    return Error{Errc::bad_request,
                 "password: standard input is not a terminal; use --password-stdin"};
  }
  EchoOff echo_off(saved);
  std::cerr << "Password: " << std::flush;
  auto first = read_line(in);
  if (!first) return first;
  std::cerr << "Repeat password: " << std::flush;
  auto second = read_line(in);
  if (!second) return second;
  if (*first != *second) return Error{Errc::bad_request, "password: the two entries differ"};
  return first;
}

}  // namespace baton::app
