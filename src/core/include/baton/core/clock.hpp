// Time and randomness are injected so that tests control them (STYLE.md).
#pragma once

#include <cstdint>
#include <string>

namespace baton::core {

// Milliseconds since the Unix epoch.
using Millis = std::int64_t;

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time in milliseconds. Thread-safe.
  virtual Millis now() const = 0;
};

class SystemClock final : public Clock {
 public:
  Millis now() const override;
};

// A clock that only moves when told to. Not thread-safe; tests only.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(Millis start = 1'700'000'000'000) : now_(start) {}
  Millis now() const override { return now_; }
  void advance(Millis ms) { now_ += ms; }
  void set(Millis ms) { now_ = ms; }

 private:
  Millis now_;
};

class Random {
 public:
  virtual ~Random() = default;
  // Fills `out` with `n` bytes from a CSPRNG. Thread-safe.
  virtual void fill(void* out, std::size_t n) = 0;
  // `bytes` random bytes, hex-encoded (2*bytes characters).
  std::string hex(std::size_t bytes);
  // `bytes` random bytes, base64url without padding.
  std::string token(std::size_t bytes);
};

}  // namespace baton::core
