#include "baton/api/peer_outbox.hpp"

#include <limits>
#include <vector>

namespace baton::api {

PeerOutbox::PeerOutbox(boost::asio::any_io_executor strand, const core::Clock& clock, Timers& timers, Send send)
    : strand_(std::move(strand)), clock_(clock), send_(std::move(send)), timer_(timers.make(strand_)) {}

void PeerOutbox::put(core::OutboxItem row) {
  std::string id = row.id;
  Entry& e = rows_[id];
  bool was_on_its_way = e.on_its_way;
  e.row = std::move(row);
  e.generation = ++generations_;
  e.on_its_way = was_on_its_way;
  send_due();
}

void PeerOutbox::erase(const std::string& id) { rows_.erase(id); }

const core::OutboxItem* PeerOutbox::find(const std::string& id) const {
  auto it = rows_.find(id);
  return it == rows_.end() ? nullptr : &it->second.row;
}

bool PeerOutbox::current(const std::string& id, std::uint64_t generation) const {
  auto it = rows_.find(id);
  return it != rows_.end() && it->second.generation == generation;
}

void PeerOutbox::sent(const std::string& id) {
  auto it = rows_.find(id);
  if (it == rows_.end()) return;
  it->second.on_its_way = false;
  send_due();
}

void PeerOutbox::send_due() {
  core::Millis now = clock_.now();
  std::vector<std::pair<core::OutboxItem, std::uint64_t>> due;
  for (auto& [id, e] : rows_) {
    if (e.on_its_way || e.row.next_at > now) continue;
    e.on_its_way = true;
    due.emplace_back(e.row, e.generation);
  }
  // Sent after the loop: a send may put or erase rows.
  for (const auto& [row, generation] : due) send_(row, generation);
  arm();
}

void PeerOutbox::arm() {
  core::Millis next = std::numeric_limits<core::Millis>::max();
  for (const auto& [id, e] : rows_)
    if (!e.on_its_way) next = std::min(next, e.row.next_at);
  if (next == std::numeric_limits<core::Millis>::max()) {
    if (armed_at_ != 0) timer_->cancel();
    armed_at_ = 0;
    return;
  }
  if (armed_at_ == next) return;
  armed_at_ = next;
  timer_->wait_until(next, [this] {
    armed_at_ = 0;
    send_due();
  });
}

}  // namespace baton::api
