#include "sim/scenario.hpp"

#include <boost/json.hpp>
#include <set>

#include "baton/federation/codes.hpp"
#include "baton/federation/password.hpp"
#include "sim/world.hpp"

namespace baton::sim {

namespace json = boost::json;
using core::Millis;
using core::TransferState;

namespace {

constexpr char kAcmeUrl[] = "http://acme.sim";
constexpr char kNorthwindUrl[] = "http://northwind.sim";
constexpr Millis kSecond = 1000;

// A browser tab or an agent's console: what the hub sends it, read as JSON.
class Page final : public api::Subscriber {
 public:
  std::function<void(const json::object&)> on_message;
  void deliver(const std::string&, std::int64_t, std::shared_ptr<const std::string> payload) override {
    if (!on_message) return;
    boost::system::error_code ec;
    auto v = json::parse(*payload, ec);
    if (!ec && v.is_object()) on_message(v.as_object());
  }
  void backfill(const std::string&, Batch, bool) override {}
};

std::string str(const json::object& o, std::string_view k) {
  auto* v = o.if_contains(k);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

api::Settings base_settings(std::string org, std::string url, std::vector<std::string> queues, std::string agent) {
  api::Settings s;
  s.organization = std::move(org);
  s.public_url = std::move(url);
  s.queues = queues;
  api::AgentAccount a;
  a.profile.name = agent;
  a.profile.display_name = agent;
  a.profile.queues = queues;
  a.profile.capacity = 3;
  s.agents.push_back(a);
  s.sites.push_back(api::Site{"web", {}, queues.front()});
  s.federation.enabled = true;
  s.federation.code_secret = std::string(32, 'k');
  s.federation.unserved_recall_ms = 60 * kSecond;
  return s;
}

bool took_back(TransferState s) {
  return s == TransferState::failed || s == TransferState::expired || s == TransferState::cancelled;
}

class Run {
 public:
  Run(std::uint64_t seed, bool trace) : world_(seed), tracing_(trace) {}
  Outcome go();

 private:
  void note(const std::string& what);
  void fail(const std::string& why);
  void drain();
  void check();
  void check_end();
  void schedule_commits(Org& org);
  void restart(Org& org);
  // The visitor.
  void create();
  void connect_o();
  void connect_d();
  void talk();
  void on_move();
  void go_to_destination(const std::string& code, bool twice);
  void stay();
  void come_back_from_destination(const std::string& url);
  // The agents.
  void alice_attach();
  void alice_loop();
  void bob_attach();
  void bob_recall();

  World world_;
  Faults faults_;
  Network net_{world_, faults_};
  std::unique_ptr<Org> acme_, northwind_;
  bool tracing_;
  Outcome out_;
  Millis faults_end_ = 0, talk_end_ = 0, end_ = 0;

  // The visitor's browser.
  std::string conv_o_, token_o_, conv_d_, token_d_;
  std::shared_ptr<Page> page_o_, page_d_;
  bool closed_ = false;      // the browser was closed for good
  bool moving_ = false;      // handling a move now
  int said_ = 0;
  std::vector<std::string> acked_;
  std::map<std::string, int> redeemed_;
  // The agents.
  std::shared_ptr<Page> alice_, bob_;
  int offers_ = 0;
  Millis last_offer_ = 0;
};

void Run::note(const std::string& what) {
  if (tracing_) out_.trace.push_back("[" + std::to_string(world_.now() - 1'800'000'000'000) + " ms] " + what);
}

void Run::fail(const std::string& why) {
  if (!out_.ok) return;
  out_.ok = false;
  out_.failure = why;
  note("INVARIANT BROKEN: " + why);
}

void Run::drain() {
  for (bool again = true; again;) {
    again = false;
    if (acme_->poll() > 0) again = true;
    if (northwind_->poll() > 0) again = true;
  }
  check();
}

void Run::schedule_commits(Org& org) {
  org.store.on_submit = [this, &org] {
    // Group commits in order, each a moment after its write; sometimes the disk fails one.
    world_.after(world_.rng.between(0, 3), [this, &org] {
      bool fail = faults_.on && world_.rng.chance(faults_.fail_write);
      if (fail) note(org.settings.organization + ": a write fails");
      org.store.commit_one(fail);
    });
  };
}

// ---- invariants -----------------------------------------------------------------

void Run::check() {
  if (!out_.ok) return;
  const auto& dest = northwind_->store.all_transfers();
  for (const auto& [id, t] : acme_->store.all_transfers()) {
    if (t.kind != core::TransferKind::peer || t.direction != core::Direction::out) continue;
    auto it = dest.find(federation::inbound_id("acme", id));
    const core::Transfer* d = it == dest.end() ? nullptr : &it->second;
    if (took_back(t.state) && d && d->state == TransferState::completed)
      return fail("two owners: " + id + " is " + std::string(core::transfer_state_name(t.state)) +
                  " at the origin while the visitor arrived at the destination");
    if (t.state == TransferState::completed && !(d && (d->state == TransferState::completed || d->state == TransferState::recalled)))
      return fail("the origin let go of " + id + " before the destination had the visitor");
    if (d && d->state == TransferState::recalled && t.state != TransferState::recalled)
      return fail("the destination let go of " + id + " before the origin took the visitor back");
    if (t.state == TransferState::recalled && d && d->state == TransferState::completed && d->step != core::PeerStep::recalling)
      return fail("two owners: the origin took " + id + " back while the destination keeps the visitor");
    if (d && d->state == TransferState::cancelled && !d->return_url.empty())
      return fail("the destination gave up a visitor it had (" + id + ": " + d->reason + ")");
  }
  for (const auto& [code, n] : redeemed_)
    if (n > 1) return fail("a join code was redeemed " + std::to_string(n) + " times");
}

void Run::check_end() {
  if (!out_.ok) return;
  for (Org* org : {acme_.get(), northwind_.get()}) {
    for (const auto& [id, t] : org->store.all_transfers())
      if (core::is_open(t.state))
        return fail(org->settings.organization + ": transfer " + id + " is still " +
                    std::string(core::transfer_state_name(t.state)) + " after every timer had its time");
    if (!org->store.all_outbox().empty())
      return fail(org->settings.organization + ": " + org->store.all_outbox().begin()->first + " is still in the outbox");
  }
  if (conv_o_.empty()) return;
  // The owner: the destination if a transfer completed (and was not recalled), else the origin.
  std::string owner_org = "acme", owner = conv_o_;
  std::string summary;
  for (const auto& [id, t] : acme_->store.all_transfers()) {
    if (t.kind != core::TransferKind::peer) continue;
    summary += std::string(summary.empty() ? "" : ",") + std::string(core::transfer_state_name(t.state));
    if (t.state != TransferState::completed) continue;
    auto d = northwind_->store.all_transfers().find(federation::inbound_id("acme", id));
    owner_org = "northwind";
    owner = d->second.conversation_id;
  }
  out_.summary = summary.empty() ? "none" : summary;
  // Live in one conversation at most: the owner's.
  for (Org* org : {acme_.get(), northwind_.get()}) {
    for (const auto& [id, c] : org->store.all_conversations()) {
      if (core::is_terminal(c.state) || id == owner) continue;
      return fail(org->settings.organization + ": conversation " + id + " is still " + std::string(core::state_name(c.state)) +
                  " though the visitor's owner is " + owner);
    }
  }
  const auto& owner_store = owner_org == "acme" ? acme_->store : northwind_->store;
  if (const auto* c = owner_store.all_conversations().count(owner) ? &owner_store.all_conversations().at(owner) : nullptr;
      c && c->state == core::ConversationState::transferring)
    return fail("the owner's conversation " + owner + " is left transferring");
  const auto* log = owner_store.log(owner);
  for (const auto& text : acked_) {
    int seen = 0;
    if (log)
      for (const auto& e : *log)
        if (e.kind == core::EventKind::message && e.author_kind == core::AuthorKind::visitor && e.text == text) ++seen;
    if (seen != 1)
      return fail("message " + text + " is in the owner's transcript (" + owner_org + " " + owner + ") " + std::to_string(seen) +
                  " times");
  }
}

// ---- crashes ---------------------------------------------------------------------

void Run::restart(Org& org) {
  org.start();
  note(org.settings.organization + " is back");
  // Pages and consoles that were connected to it come back a moment later.
  world_.after(world_.rng.between(200, 3 * kSecond), [this, &org] {
    if (!org.up()) return;
    if (&org == acme_.get()) {
      alice_attach();
      if (page_o_) connect_o();
    } else {
      if (bob_) bob_attach();
      if (page_d_) connect_d();
    }
  });
}

// ---- the visitor -------------------------------------------------------------------

void Run::create() {
  if (!acme_->up()) return world_.after(kSecond, [this] { create(); });
  api::NewConversation nc;
  nc.site = "web";
  nc.visitor.name = "Vera";
  nc.first_message = "v0";
  nc.client_id = "v0";
  acme_->hub().create(std::move(nc), [this](core::Result<api::Created> r) {
    if (!r) {
      note("create failed: " + r.error().message);
      return world_.after(kSecond, [this] { create(); });
    }
    conv_o_ = r->conversation.id;
    token_o_ = r->token;
    acked_.push_back("v0");
    note("visitor at acme in " + conv_o_);
    connect_o();
  });
}

void Run::connect_o() {
  if (closed_ || conv_o_.empty() || !acme_->up()) return;
  page_o_ = std::make_shared<Page>();
  page_o_->on_message = [this, page = std::weak_ptr<Page>(page_o_)](const json::object& m) {
    if (str(m, "type") == "move" && m.contains("action") && page.lock() == page_o_) on_move();
  };
  acme_->hub().subscribe(api::Actor{core::AuthorKind::visitor, {}, {}, conv_o_}, conv_o_, 0, page_o_,
                         [this](core::Result<core::Ok> r) {
                           if (!r) note("subscribe at acme: " + r.error().message);
                         });
}

void Run::connect_d() {
  if (closed_ || conv_d_.empty() || !northwind_->up()) return;
  page_d_ = std::make_shared<Page>();
  page_d_->on_message = [this, page = std::weak_ptr<Page>(page_d_)](const json::object& m) {
    if (str(m, "type") == "move" && m.contains("url") && page.lock() == page_d_) come_back_from_destination(str(m, "url"));
  };
  northwind_->hub().subscribe(api::Actor{core::AuthorKind::visitor, {}, {}, conv_d_}, conv_d_, 0, page_d_,
                              [this](core::Result<core::Ok> r) {
                                if (!r) note("subscribe at northwind: " + r.error().message);
                              });
}

void Run::talk() {
  if (world_.now() > talk_end_ || closed_) return;
  world_.after(world_.rng.between(kSecond, 4 * kSecond), [this] { talk(); });
  bool at_d = page_d_ && northwind_->up();
  bool at_o = !at_d && page_o_ && acme_->up();
  if (!at_d && !at_o) return;
  Org& org = at_d ? *northwind_ : *acme_;
  std::string conv = at_d ? conv_d_ : conv_o_;
  std::string text = "v" + std::to_string(++said_);
  int incarnation = org.incarnation();
  org.hub().post(api::Actor{core::AuthorKind::visitor, {}, {}, conv}, conv, core::EventKind::message, text, text,
                 [this, text, &org, incarnation](core::Result<api::Ack> r) {
                   if (!r || org.incarnation() != incarnation) return;
                   note("visitor said " + text + " at " + org.settings.organization);
                   if (!r->duplicate) acked_.push_back(text);
                 });
}

void Run::on_move() {
  if (moving_ || closed_) return;
  moving_ = true;
  world_.after(world_.rng.between(50, 500), [this] {
    if (!acme_->up()) {
      moving_ = false;
      return;
    }
    acme_->hub().transfer_page(conv_o_, token_o_, [this](core::Result<api::Hub::MovePage> page) {
      if (!page) {
        moving_ = false;
        return note("transfer page: " + page.error().message);
      }
      std::string code = page->join_code;
      auto roll = world_.rng.between(0, 99);
      note("transfer page, the browser " + std::string(roll < 60 ? "goes" : roll < 70 ? "stays" : roll < 80 ? "is closed"
                                                                         : roll < 90 ? "goes twice" : "goes, and a tab stays"));
      if (roll < 60) return go_to_destination(code, false);
      if (roll < 70) return stay();
      if (roll < 80) {
        closed_ = true;
        page_o_.reset();
        page_d_.reset();
        return;
      }
      if (roll < 90) return go_to_destination(code, true);
      go_to_destination(code, false);
      world_.after(world_.rng.between(0, 3 * kSecond), [this] { stay(); });
    });
  });
}

void Run::go_to_destination(const std::string& code, bool twice) {
  auto redeem = [this, code] {
    if (!northwind_->up()) {
      // The browser cannot reach the destination: it comes back and stays.
      note("the destination is down: the visitor stays");
      return stay();
    }
    int incarnation = northwind_->incarnation();
    northwind_->hub().redeem_join(code, [this, code, incarnation](core::Result<api::Hub::Joined> j) {
      if (northwind_->incarnation() != incarnation) return;
      if (!j) {
        note("join refused: " + j.error().message);
        if (conv_d_.empty()) stay();
        return;
      }
      ++redeemed_[code];
      check();
      note("joined northwind in " + j->conversation);
      conv_d_ = j->conversation;
      token_d_ = j->token;
      page_o_.reset();
      moving_ = false;
      connect_d();
    });
  };
  world_.after(world_.rng.between(100, 2 * kSecond), redeem);
  if (twice) world_.after(world_.rng.between(100, 3 * kSecond), redeem);
}

void Run::stay() {
  moving_ = false;
  if (!acme_->up()) return;
  acme_->hub().visitor_stays(conv_o_, token_o_, [this](core::Result<std::string> r) {
    note(r ? "stayed at acme" : "stay refused: " + r.error().message);
    if (!page_o_ && !closed_ && page_d_ == nullptr) connect_o();
  });
  if (!page_o_ && !page_d_) connect_o();
}

void Run::come_back_from_destination(const std::string& url) {
  note("northwind sends the page to " + url);
  page_d_.reset();
  world_.after(world_.rng.between(100, kSecond), [this] { connect_o(); });
}

// ---- the agents ------------------------------------------------------------------

void Run::alice_attach() {
  if (!acme_->up()) return;
  alice_ = std::make_shared<Page>();
  acme_->hub().attach_agent("alice", alice_);
}

void Run::alice_loop() {
  if (world_.now() > talk_end_) return;
  world_.after(world_.rng.between(500, 2 * kSecond), [this] { alice_loop(); });
  if (!acme_->up() || conv_o_.empty()) return;
  api::Actor alice{core::AuthorKind::agent, "alice", "alice", {}};
  if (world_.rng.chance(0.3))
    acme_->hub().post(alice, conv_o_, core::EventKind::message, "", "alice says hello", [](core::Result<api::Ack>) {});
  acme_->hub().transfer_history(alice, conv_o_, [this, alice](core::Result<std::vector<core::Transfer>> list) {
    if (!list || !acme_->up()) return;
    const core::Transfer* last = nullptr;
    for (const auto& t : *list)
      if (t.kind == core::TransferKind::peer) last = &t;
    if (last && last->state == TransferState::offering && last->step == core::PeerStep::offer_answered) {
      if (world_.rng.chance(0.1)) {
        note("alice calls " + last->id + " off");
        return acme_->hub().cancel_transfer(alice, last->id, [](core::Result<core::Transfer>) {});
      }
      note("alice confirms " + last->id);
      return acme_->hub().peer_confirm(alice, last->id, "Claims", "claim 42", [this](core::Result<core::Transfer> r) {
        if (!r) note("confirm: " + r.error().message);
      });
    }
    bool may_offer = (!last || took_back(last->state)) && offers_ < 2 && world_.now() < faults_end_ &&
                     world_.now() - last_offer_ > 5 * kSecond;
    if (may_offer && world_.rng.chance(0.4)) {
      ++offers_;
      last_offer_ = world_.now();
      acme_->hub().peer_offer(alice, conv_o_, "northwind", [this](core::Result<core::Transfer> r) {
        note(r ? "alice offers " + r->id : "offer refused: " + r.error().message);
        if (!r) --offers_;
      });
    }
  });
}

void Run::bob_attach() {
  if (!northwind_->up()) return;
  bob_ = std::make_shared<Page>();
  northwind_->hub().attach_agent("bob", bob_);
  note("bob is online");
}

void Run::bob_recall() {
  if (conv_d_.empty() || !northwind_->up()) return world_.after(2 * kSecond, [this] { bob_recall(); });
  northwind_->hub().peer_recall(api::Actor{core::AuthorKind::agent, "bob", "bob", {}}, conv_d_, [this](core::Result<core::Transfer> r) {
    note(r ? "bob sends the visitor back" : "recall refused: " + r.error().message);
  });
}

// ---- the run ---------------------------------------------------------------------

Outcome Run::go() {
  Rng& rng = world_.rng;
  // Clocks within the bounds of §4.4: at most 60 s apart.
  Millis skew_o = rng.between(-30, 30) * kSecond, skew_d = rng.between(-30, 30) * kSecond;
  acme_ = std::make_unique<Org>(world_, net_, kAcmeUrl, skew_o, rng.next());
  northwind_ = std::make_unique<Org>(world_, net_, kNorthwindUrl, skew_d, rng.next());
  acme_->settings = base_settings("Acme", kAcmeUrl, {"General"}, "alice");
  northwind_->settings = base_settings("Northwind", kNorthwindUrl, {"Claims"}, "bob");
  acme_->settings.federation.peers.push_back({"northwind", "Northwind", kNorthwindUrl, {}, {}});
  northwind_->settings.federation.peers.push_back({"acme", "Acme", kAcmeUrl, {"Claims"}, {}});
  // Timers short enough to fire while the faults last, or as configured by default.
  for (Org* org : {acme_.get(), northwind_.get()}) {
    auto& f = org->settings.federation;
    f.join_code_ttl_ms = rng.chance(0.5) ? 20 * kSecond : 120 * kSecond;
    f.auth_code_ttl_ms = rng.chance(0.5) ? 20 * kSecond : 120 * kSecond;
    f.unserved_recall_ms = rng.chance(0.5) ? 10 * kSecond : 60 * kSecond;
    f.notice_retry_max_ms = rng.chance(0.5) ? 5 * kSecond : 30 * kSecond;
  }
  schedule_commits(*acme_);
  schedule_commits(*northwind_);
  world_.settle = [this] { drain(); };
  if (tracing_) net_.trace = [this](const std::string& s) { note(s); };

  faults_.on = true;
  faults_.lose_request = std::vector<double>{0, 0.02, 0.1, 0.3}[rng.between(0, 3)];
  faults_.lose_answer = std::vector<double>{0, 0.02, 0.1, 0.3}[rng.between(0, 3)];
  faults_.duplicate = std::vector<double>{0, 0.05, 0.2}[rng.between(0, 2)];
  faults_.max_delay = std::vector<Millis>{5, 50, 500, 5000}[rng.between(0, 3)];
  faults_.fail_write = rng.chance(0.2) ? 0.01 : 0;
  faults_end_ = world_.now() + rng.between(30, 120) * kSecond;
  talk_end_ = faults_end_ + 30 * kSecond;
  end_ = faults_end_ + 15 * 60 * kSecond;
  note("skews " + std::to_string(skew_o) + " / " + std::to_string(skew_d) + " ms; faults until " +
       std::to_string(faults_end_ - 1'800'000'000'000) + " ms");

  acme_->start();
  northwind_->start();
  alice_attach();
  // Bob: there from the start, later, or never (the visitor is then sent back).
  auto bob_when = rng.between(0, 9);
  if (bob_when < 6) bob_attach();
  else if (bob_when < 9) world_.after(rng.between(5, 120) * kSecond, [this] { bob_attach(); });
  if (rng.chance(0.2)) {
    world_.after(rng.between(20, 100) * kSecond, [this] { bob_recall(); });
  }
  world_.after(10, [this] { create(); });
  world_.after(kSecond, [this] { talk(); });
  world_.after(2 * kSecond, [this] { alice_loop(); });
  // Crashes: each a server killed at some moment, back after a while.
  int crashes = static_cast<int>(rng.between(0, 3));
  for (int i = 0; i < crashes; ++i) {
    Millis when = rng.between(1, (faults_end_ - world_.now()) / kSecond) * kSecond + rng.between(0, 999);
    bool origin = rng.chance(0.5);
    Millis down = rng.chance(0.2) ? rng.between(60, 200) * kSecond : rng.between(10, 30'000);
    world_.after(when, [this, origin, down] {
      Org& org = origin ? *acme_ : *northwind_;
      if (!org.up()) return;
      note(org.settings.organization + " crashes for " + std::to_string(down) + " ms");
      org.crash();
      world_.after(down, [this, &org] {
        if (!org.up()) restart(org);
      });
    });
  }
  world_.at(faults_end_, [this] {
    faults_.on = false;
    note("faults stop");
    for (Org* org : {acme_.get(), northwind_.get()})
      if (!org->up()) restart(*org);
  });
  while (out_.ok && world_.step(end_)) {
  }
  if (out_.ok) {
    for (Org* org : {acme_.get(), northwind_.get()}) {
      while (org->store.pending() > 0) org->store.commit_one();
    }
    drain();
    check_end();
  }
  if (tracing_) {
    // What each server stored, for whoever replays a seed.
    for (Org* org : {acme_.get(), northwind_.get()}) {
      for (const auto& [id, t] : org->store.all_transfers())
        note(org->settings.organization + " transfer " + id + ": " + std::string(core::transfer_state_name(t.state)) + " " +
             std::string(core::peer_step_name(t.step)) + " (" + t.reason + ")");
      for (const auto& [id, c] : org->store.all_conversations()) {
        std::string line = org->settings.organization + " " + id + " " + std::string(core::state_name(c.state)) + ":";
        if (const auto* log = org->store.log(id))
          for (const auto& e : *log)
            if (e.kind == core::EventKind::message) line += " " + std::to_string(e.seq) + "=" + e.text.substr(0, 12);
        note(line);
      }
    }
  }
  return out_;
}

}  // namespace

Outcome run_seed(std::uint64_t seed, bool trace) {
  Run run(seed, trace);
  return run.go();
}

}  // namespace baton::sim
