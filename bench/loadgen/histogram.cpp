#include "histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>

namespace baton::bench {

int Histogram::index_of(std::uint64_t v) {
  // Values below 2*kSub are exact; above, the top kSubBits+1 bits select the bucket.
  if (v < 2 * static_cast<std::uint64_t>(kSub)) return static_cast<int>(v);
  int e = 63 - std::countl_zero(v);  // >= kSubBits + 1
  int shift = e - kSubBits;
  auto sub = static_cast<int>(v >> shift);  // in [kSub, 2*kSub)
  return shift * kSub + sub;
}

std::uint64_t Histogram::highest_in(int index) {
  if (index < 2 * kSub) return static_cast<std::uint64_t>(index);
  int shift = index / kSub - 1;
  auto sub = static_cast<std::uint64_t>(index % kSub + kSub);
  return ((sub + 1) << shift) - 1;
}

void Histogram::record(std::int64_t ns) {
  if (ns < 0) ns = 0;
  ++counts_[static_cast<std::size_t>(index_of(static_cast<std::uint64_t>(ns)))];
  ++count_;
  min_ = std::min(min_, ns);
  max_ = std::max(max_, ns);
  sum_ += ns;
}

void Histogram::merge(const Histogram& o) {
  for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += o.counts_[i];
  count_ += o.count_;
  min_ = std::min(min_, o.min_);
  max_ = std::max(max_, o.max_);
  sum_ += o.sum_;
}

void Histogram::reset() { *this = Histogram{}; }

std::int64_t Histogram::percentile(double q) const {
  if (count_ == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_)));
  rank = std::max<std::uint64_t>(rank, 1);
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      auto top = static_cast<std::int64_t>(highest_in(static_cast<int>(i)));
      return std::min(top, max_);
    }
  }
  return max_;
}

std::string summary(const Histogram& h) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "p50 %.3f ms, p99 %.3f ms, p99.9 %.3f ms, max %.3f ms (n=%llu)",
                h.percentile_ms(0.5), h.percentile_ms(0.99), h.percentile_ms(0.999),
                static_cast<double>(h.max()) / 1e6, static_cast<unsigned long long>(h.count()));
  return buf;
}

}  // namespace baton::bench
