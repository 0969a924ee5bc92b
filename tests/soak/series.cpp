#include "series.hpp"

#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace baton::soak {

namespace json = boost::json;

Flatness flatness(const std::vector<double>& t, const std::vector<std::int64_t>& v, double duration_s) {
  Flatness f;
  bool any1 = false, any2 = false, any3 = false;
  double n = 0, st = 0, sv = 0, stt = 0, stv = 0;
  for (std::size_t i = 0; i < t.size() && i < v.size(); ++i) {
    if (v[i] < 0 || t[i] > duration_s) continue;
    if (t[i] < duration_s / 3) {
      f.first_max = any1 ? std::max(f.first_max, v[i]) : v[i];
      any1 = true;
      continue;
    }
    if (t[i] < 2 * duration_s / 3) {
      f.second_max = any2 ? std::max(f.second_max, v[i]) : v[i];
      any2 = true;
    } else {
      f.last_max = any3 ? std::max(f.last_max, v[i]) : v[i];
      any3 = true;
    }
    double x = t[i], y = static_cast<double>(v[i]);
    n += 1;
    st += x;
    sv += y;
    stt += x * x;
    stv += x * y;
  }
  f.valid = any2 && any3;
  f.growth = f.last_max - f.second_max;
  double den = n * stt - st * st;
  f.slope_per_s = n > 1 && den != 0 ? (n * stv - st * sv) / den : 0;
  return f;
}

json::object Flatness::to_json() const {
  return json::object{{"first_third_max", first_max},
                      {"second_third_max", second_max},
                      {"last_third_max", last_max},
                      {"growth", growth},
                      {"slope_per_s", slope_per_s}};
}

std::string Flatness::describe(double unit, const std::string& unit_name) const {
  auto fmt = [&](double x) {
    char buf[32];
    std::snprintf(buf, sizeof buf, unit == 1 ? "%.0f" : "%.1f", x / unit);
    return std::string(buf) + (unit_name.empty() ? "" : " " + unit_name);
  };
  if (!valid) return "too few samples";
  return "peak " + fmt(static_cast<double>(first_max)) + " / " + fmt(static_cast<double>(second_max)) + " / " +
         fmt(static_cast<double>(last_max)) + " by thirds, growth " + fmt(static_cast<double>(growth)) + ", trend " +
         fmt(slope_per_s * 60) + " per minute";
}

json::object machine_json() {
  json::object m;
  m["cores"] = static_cast<std::int64_t>(::sysconf(_SC_NPROCESSORS_ONLN));
  std::ifstream cpu("/proc/cpuinfo");
  for (std::string line; std::getline(cpu, line);) {
    if (line.rfind("model name", 0) == 0) {
      m["cpu"] = line.substr(line.find(':') + 2);
      break;
    }
  }
  std::ifstream mem("/proc/meminfo");
  for (std::string line; std::getline(mem, line);) {
    if (line.rfind("MemTotal:", 0) == 0) {
      m["memory_bytes"] = std::stoll(line.substr(9)) * 1024;
      break;
    }
  }
  std::ifstream load("/proc/loadavg");
  double l1 = 0, l5 = 0;
  load >> l1 >> l5;
  m["loadavg_1m"] = l1;
  m["loadavg_5m"] = l5;
  utsname u{};
  if (::uname(&u) == 0) m["kernel"] = std::string(u.release);
  return m;
}

}  // namespace baton::soak
