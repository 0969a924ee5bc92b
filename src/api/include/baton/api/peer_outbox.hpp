// The rows of the federation outbox held in memory, each sent when it is due
// (docs/federation.md §8.5). The store holds the truth: a row is given here only
// once the Write that holds it is stored, and taken away once the Write that
// deletes it is. What a row's answer changes, and when a row is given up, is the
// owner's (api::Hub) business; this class keeps the rows, their timers, and which
// one is on its way.
//
// Not thread-safe: every call, and every `send`, on the owner's strand.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "baton/api/timers.hpp"
#include "baton/core/store.hpp"

namespace baton::api {

class PeerOutbox {
 public:
  // Called when a row is due and not on its way already. The owner sends it and
  // reports back with sent(); `generation` tells an answer for the row as it is
  // now from one for a row since replaced or deleted.
  using Send = std::function<void(const core::OutboxItem& row, std::uint64_t generation)>;

  PeerOutbox(boost::asio::any_io_executor strand, const core::Clock& clock, Timers& timers, Send send);

  // A stored row (new or replacing the one with its id): sent at its next_at, at
  // once if that has passed. A row replaced while on its way is sent again when
  // the answer for the old one comes back.
  void put(core::OutboxItem row);
  // A deleted row: forgotten; an answer for it on its way is ignored.
  void erase(const std::string& id);
  const core::OutboxItem* find(const std::string& id) const;
  // Whether `generation` is the current one of row `id`.
  bool current(const std::string& id, std::uint64_t generation) const;
  // The send of `id` finished (answered or not): it may be sent again.
  void sent(const std::string& id);
  std::size_t size() const { return rows_.size(); }

 private:
  struct Entry {
    core::OutboxItem row;
    std::uint64_t generation = 0;
    bool on_its_way = false;
  };
  void arm();
  void send_due();

  boost::asio::any_io_executor strand_;
  const core::Clock& clock_;
  Send send_;
  std::map<std::string, Entry> rows_;
  std::uint64_t generations_ = 0;
  std::unique_ptr<Timer> timer_;
  core::Millis armed_at_ = 0;  // when timer_ fires; 0 when idle
};

}  // namespace baton::api
