// baton-soak: thousands of conversations against real `baton serve` processes
// for minutes, with transfers, counting every message and watching the servers'
// memory and file descriptors (soak.hpp). Exits 0 only when every check passed.
//
//   baton-soak --baton build/baton --conversations 500 --seconds 75
//   baton-soak --help
#include <boost/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

#include "servers.hpp"
#include "soak.hpp"

namespace {

void usage() {
  std::cout <<
      R"(usage: baton-soak --baton PATH [options]

  --baton PATH              the baton binary to run (required)
  --workdir DIR             servers' folders and logs go here (default build/soak)
  --out FILE                results JSON (default WORKDIR/results.json)
  --conversations N         concurrent conversations (default 500)
  --seconds S               how long new conversations keep starting (default 75)
  --message-interval S      seconds between two messages of one conversation (default 2)
  --messages-per-phase N    messages before and after the transfer (default 4)
  --no-federation           one server; no transfers to a partner
  --capacity N              conversations per agent (default 50)
  --agents-per-queue N      (default 4)
  --ramp S                  conversations start spread over S seconds (default: one lifetime)
  --sample-interval S       seconds between samples of RSS and descriptors (default 2)
  --sources N               client addresses 127.0.0.1..N (default 4)
  --server-threads N        the servers' network threads (default 0: one per core)
  --rss-slack-mib M         memory flat: allowed growth, MiB (default 5) ...
  --rss-slack-percent P     ... plus P % of the second third's peak (default 5)
  --no-rss-check            do not check memory (sanitizer builds)
  --fd-slack N              descriptors flat: allowed growth beyond the soak's own connections
                            (default 16, plus 1 per 200 conversations)
)";
}

}  // namespace

int main(int argc, char** argv) {
  baton::soak::Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "baton-soak: " << a << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    try {
      if (a == "--help" || a == "-h") {
        usage();
        return 0;
      } else if (a == "--baton") o.baton = value();
      else if (a == "--workdir") o.workdir = value();
      else if (a == "--out") o.out = value();
      else if (a == "--conversations") o.conversations = std::stoi(value());
      else if (a == "--seconds") o.seconds = std::stod(value());
      else if (a == "--message-interval") o.message_interval_s = std::stod(value());
      else if (a == "--messages-per-phase") o.messages_per_phase = std::stoi(value());
      else if (a == "--no-federation") o.federation = false;
      else if (a == "--capacity") o.capacity = std::stoi(value());
      else if (a == "--agents-per-queue") o.agents_per_queue = std::stoi(value());
      else if (a == "--ramp") o.ramp_s = std::stod(value());
      else if (a == "--sample-interval") o.sample_interval_s = std::stod(value());
      else if (a == "--sources") o.sources = std::stoi(value());
      else if (a == "--server-threads") o.server_threads = std::stoi(value());
      else if (a == "--rss-slack-mib") o.rss_slack_mib = std::stod(value());
      else if (a == "--rss-slack-percent") o.rss_slack_percent = std::stod(value());
      else if (a == "--no-rss-check") o.check_rss = false;
      else if (a == "--fd-slack") o.fd_slack = std::stoi(value());
      else {
        std::cerr << "baton-soak: unknown option " << a << " (see --help)\n";
        return 2;
      }
    } catch (const std::exception&) {
      std::cerr << "baton-soak: bad value for " << a << "\n";
      return 2;
    }
  }
  if (o.baton.empty() || o.conversations < 1 || o.seconds <= 0 || o.capacity < 1 || o.capacity > 100 ||
      o.agents_per_queue < 2 || o.message_interval_s <= 0 || o.messages_per_phase < 2) {
    std::cerr << "baton-soak: --baton is required; conversations >= 1, seconds > 0, capacity 1..100, "
                 "agents-per-queue >= 2, messages-per-phase >= 2\n";
    return 2;
  }
  if (o.out.empty()) o.out = o.workdir + "/results.json";

  // Thousands of sockets here and in the servers, which inherit the limit.
  std::uint64_t limit = baton::soak::raise_fd_limit();
  std::uint64_t need = static_cast<std::uint64_t>(o.conversations) + 1000;
  if (limit < need) {
    std::cerr << "baton-soak: the open-file limit is " << limit << " (hard limit); " << need
              << " are needed for " << o.conversations << " conversations\n";
    return 2;
  }

  boost::json::object r;
  try {
    r = baton::soak::run(o);
  } catch (const std::exception& e) {
    std::cerr << "baton-soak: " << e.what() << "\n";
    return 1;
  }
  std::filesystem::create_directories(std::filesystem::absolute(o.out).parent_path());
  std::ofstream(o.out) << boost::json::serialize(r) << "\n";

  const auto& m = r.at("messages").as_object();
  std::cout << "\nbaton-soak: " << o.conversations << " conversations, " << r.at("run_s").to_number<double>()
            << " s; messages sent " << m.at("sent") << ", delivered " << m.at("delivered") << ", lost "
            << m.at("lost") << ", duplicated " << m.at("duplicated") << "; transfers "
            << boost::json::serialize(r.at("transfers")) << "\n";
  for (const auto& c : r.at("checks").as_array()) {
    const auto& o2 = c.as_object();
    std::cout << (o2.at("passed").as_bool() ? "  ok    " : "  FAIL  ") << o2.at("check").as_string().c_str() << ": "
              << o2.at("detail").as_string().c_str() << "\n";
  }
  for (const auto& e : r.at("conversations").as_object().at("examples").as_array())
    std::cout << "  failed: " << e.as_string().c_str() << "\n";
  for (const auto& e : r.at("other_failures").as_array()) std::cout << "  failure: " << e.as_string().c_str() << "\n";
  bool passed = r.at("passed").as_bool();
  std::cout << (passed ? "PASSED" : "FAILED") << "; results in " << o.out << "\n";
  return passed ? 0 : 1;
}
