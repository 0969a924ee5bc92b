// The soak's samples of the servers over time, and what "flat" means for them.
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <string>
#include <vector>

namespace baton::soak {

struct Sample {
  double t = 0;                    // seconds since the soak started
  std::vector<std::int64_t> rss;   // per server, bytes
  std::vector<std::int64_t> fds;   // per server
  std::vector<std::int64_t> conns;  // per server: connections the soak holds open to it
  std::int64_t sent = 0, delivered = 0, transfers = 0, visitors = 0, visitors_at_partner = 0;
};

struct Check {
  std::string name;
  bool ok = false;
  std::string detail;
};

// A series split in thirds of the soak's duration: the first is the warm-up
// (conversations starting, caches and pools filling); the second and the last
// hold the same steady load, so a leak shows as the last third's peak above the
// second third's. Peaks rather than means: a busy moment lifts both alike, and
// a leak lifts every later sample.
struct Flatness {
  bool valid = false;  // both thirds have samples
  std::int64_t first_max = 0, second_max = 0, last_max = 0, growth = 0;
  double slope_per_s = 0;  // least squares over the last two thirds, for the record
  boost::json::object to_json() const;
  std::string describe(double unit, const std::string& unit_name) const;
};

Flatness flatness(const std::vector<double>& t, const std::vector<std::int64_t>& v, double duration_s);

// Cores, memory, load: a busy machine shows in the figures.
boost::json::object machine_json();

}  // namespace baton::soak
