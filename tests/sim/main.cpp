// baton-sim: the deterministic transfer simulation (docs/federation.md §14).
//
//   baton-sim --seeds N [--first S]   runs seeds S .. S+N-1 (S defaults to 1)
//   baton-sim --seed S                replays seed S and prints what happened
//
// Exit status 0 when every seed keeps every invariant; 1 otherwise, after printing
// the first failing seed and the command that replays it.
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <map>
#include <string>

#include "sim/scenario.hpp"

int main(int argc, char** argv) {
  std::uint64_t first = 1, count = 2000;
  bool replay = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::uint64_t {
      if (i + 1 >= argc) {
        std::cerr << "baton-sim: " << a << " needs a number\n";
        std::exit(2);
      }
      return std::strtoull(argv[++i], nullptr, 10);
    };
    if (a == "--seeds") {
      count = value();
    } else if (a == "--first") {
      first = value();
    } else if (a == "--seed") {
      first = value();
      count = 1;
      replay = true;
    } else {
      std::cerr << "usage: baton-sim [--seeds N] [--first S] | --seed S\n";
      return 2;
    }
  }
  spdlog::set_level(replay ? spdlog::level::info : spdlog::level::off);
  auto began = std::chrono::steady_clock::now();
  std::map<std::string, std::uint64_t> ends;
  for (std::uint64_t seed = first; seed < first + count; ++seed) {
    auto out = baton::sim::run_seed(seed, replay);
    if (replay)
      for (const auto& line : out.trace) std::cout << line << "\n";
    if (!out.ok) {
      std::cout << "seed " << seed << ": " << out.failure << "\n"
                << "replay it with: make sim SIM_SEED=" << seed << "\n";
      return 1;
    }
    ++ends[out.summary];
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
  std::cout << "baton-sim: " << count << " seeds from " << first << " kept every invariant (" << seconds << " s)\n";
  std::cout << "transfers by how they ended:\n";
  for (const auto& [summary, n] : ends) std::cout << "  " << n << "  " << summary << "\n";
  return 0;
}
