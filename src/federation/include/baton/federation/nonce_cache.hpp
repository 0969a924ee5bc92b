// The nonces of accepted signatures, each remembered for as long as its
// signature could still be accepted, so that a replay inside that window is
// caught. Memory is bounded: past `capacity` live entries, new nonces are
// refused (the caller refuses the message) rather than old ones forgotten,
// since forgetting a live nonce would reopen it to replay.
#pragma once

#include <cstddef>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "baton/core/clock.hpp"

namespace baton::federation {

class NonceCache {
 public:
  enum class Outcome {
    remembered,  // first sighting; now remembered until `forget_at`
    replayed,    // already remembered and not yet forgotten
    full,        // `capacity` live entries already; nothing recorded
  };

  // REQUIRES: capacity > 0 (0 is treated as 1).
  explicit NonceCache(std::size_t capacity);

  // Forgets every entry whose forget_at <= now, then records `nonce` until
  // `forget_at` unless it is already there or the cache is full. Thread-safe.
  Outcome remember(std::string_view nonce, core::Millis forget_at, core::Millis now);

  // Live entries (including any whose time passed since the last remember). Thread-safe.
  std::size_t size() const;
  std::size_t capacity() const { return capacity_; }

 private:
  void forget_until(core::Millis now);

  const std::size_t capacity_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, core::Millis> forget_at_;      // guarded by mu_
  std::set<std::pair<core::Millis, std::string>> by_time_;       // guarded by mu_
};

}  // namespace baton::federation
