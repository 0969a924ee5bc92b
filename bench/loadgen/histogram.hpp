// A latency histogram in the manner of HdrHistogram: logarithmic buckets, each
// split in 64 linear sub-buckets, so every recorded value is kept with a relative
// error under 1/64 (1.6 %) from 1 ns to hours, in a fixed 30 KB table.
//
// Not thread-safe: one histogram per thread, merged at the end.
#pragma once

#include <array>
#include <cstdint>
#include <string>

namespace baton::bench {

class Histogram {
 public:
  // Records one value in nanoseconds (negative values count as 0).
  void record(std::int64_t ns);
  void merge(const Histogram& other);
  void reset();

  std::uint64_t count() const { return count_; }
  std::int64_t min() const { return count_ ? min_ : 0; }
  std::int64_t max() const { return max_; }
  double mean() const { return count_ ? static_cast<double>(sum_) / static_cast<double>(count_) : 0.0; }
  // The smallest recorded value v such that at least q (0..1) of the values are <= v,
  // reported as the top of its bucket (never below the truth, as HdrHistogram does).
  std::int64_t percentile(double q) const;
  // Same, in milliseconds.
  double percentile_ms(double q) const { return static_cast<double>(percentile(q)) / 1e6; }

  // The bucket a value falls in, and the highest value that bucket holds.
  static int index_of(std::uint64_t v);
  static std::uint64_t highest_in(int index);

  static constexpr int kSubBits = 6;                   // 64 sub-buckets per power of two
  static constexpr int kSub = 1 << kSubBits;
  static constexpr int kBuckets = (64 - kSubBits) * kSub + kSub;  // enough for any uint64

 private:
  std::array<std::uint64_t, kBuckets> counts_{};
  std::uint64_t count_ = 0;
  std::int64_t min_ = INT64_MAX;
  std::int64_t max_ = 0;
  __int128 sum_ = 0;
};

// "p50 1.23 ms, p99 4.56 ms, p99.9 7.89 ms, max 9.10 ms (n=1234)".
std::string summary(const Histogram& h);

}  // namespace baton::bench
