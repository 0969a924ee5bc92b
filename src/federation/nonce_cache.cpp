#include "baton/federation/nonce_cache.hpp"

#include <algorithm>

namespace baton::federation {

NonceCache::NonceCache(std::size_t capacity) : capacity_(std::max<std::size_t>(capacity, 1)) {}

void NonceCache::forget_until(core::Millis now) {
  while (!by_time_.empty() && by_time_.begin()->first <= now) {
    forget_at_.erase(by_time_.begin()->second);
    by_time_.erase(by_time_.begin());
  }
}

NonceCache::Outcome NonceCache::remember(std::string_view nonce, core::Millis forget_at,
                                         core::Millis now) {
  std::lock_guard lock(mu_);
  forget_until(now);
  std::string key(nonce);
  if (forget_at_.count(key) != 0) return Outcome::replayed;
  if (forget_at_.size() >= capacity_) return Outcome::full;
  if (forget_at <= now) return Outcome::remembered;  // already past its window: nothing to keep
  forget_at_.emplace(key, forget_at);
  by_time_.emplace(forget_at, std::move(key));
  return Outcome::remembered;
}

std::size_t NonceCache::size() const {
  std::lock_guard lock(mu_);
  return forget_at_.size();
}

}  // namespace baton::federation
