// The agent's desk: the conversations the console knows, derived from the server's
// `desk`, `conversation` and `transfer` events (docs/api.md §3.7), and which of them
// the list shows.
//
// The list shows a conversation when it is this agent's (live, or ended with this
// agent as its last owner), waiting in one of the agent's queues (or ended while
// waiting there), offered to the agent or a consultation with it, or loaded from
// the closed conversations on request. A conversation that stops being any of
// these (a colleague took it, accepted it, the agent declined it) leaves the list
// with the summary that says so. The open conversation is kept (and followed)
// while it is open, listed or not.
//
// Owns, per conversation: its summary, its ConversationStream, its unread count,
// whether it is new; which one is open; what has been read (localStorage, per
// agent). Emits on the bus: 'changed' (id) when anything shown about conversation
// id changed (null: several), 'open' (id) when another conversation is opened.

import { api } from '/assets/util.js';
import { ConversationStream } from '/assets/stream.js';

export const LIVE = new Set(['waiting', 'active', 'transferring']);

export function visitorLabel(s) {
  const name = s.visitor && s.visitor.name;
  if (name) return name;
  return `Visitor ${String(s.id || '').slice(-4)}`;
}

export function createDesk({ bus, session, transfers, notices, send }) {
  const entries = new Map(); // id -> {s, stream, unread, fresh, history, handoverSeen}
  let openId = null;
  let firstDesk = true;

  function changed(id) {
    bus.emit('changed', id);
    notices.title(attentionCount());
  }

  // --- which conversations are listed ------------------------------------------------

  function listed(entry) {
    const s = entry.s;
    const me = session.myName();
    if (entry.history) return true;
    if (s.agent && s.agent === me) return true;
    if (LIVE.has(s.state) && (transfers.targetsMe(s.id) || (!!s.consultant && s.consultant === me))) return true;
    const mine = session.myQueues();
    const inMyQueue = mine.size === 0 || mine.has(s.queue);
    if (s.state === 'waiting') return inMyQueue;
    return !LIVE.has(s.state) && !s.agent && inMyQueue; // ended while it waited
  }

  function wantsSubscription(entry) {
    const s = entry.s;
    if (s.id === openId) return true;
    if (!LIVE.has(s.state)) return false;
    // Offered or consulted: the transcript is there to read before answering.
    if (transfers.targetsMe(s.id) || s.consultant === session.myName()) return true;
    return s.agent === session.myName() && s.state !== 'waiting';
  }

  function follow(entry) {
    const want = wantsSubscription(entry);
    if (want && !entry.stream.subscribed) entry.stream.subscribe();
    else if (!want && entry.stream.subscribed) entry.stream.unsubscribe();
  }

  function drop(id) {
    const entry = entries.get(id);
    if (!entry) return;
    entry.stream.unsubscribe();
    entries.delete(id);
  }

  function create(s, history = false) {
    const stream = new ConversationStream({
      id: s.id,
      send,
      self: { kind: 'agent', id: session.myName(), name: session.displayName() },
    });
    const entry = { s, stream, unread: 0, fresh: false, history, handoverSeen: '' };
    stream.on('event', (e) => onStreamEvent(entry, e));
    stream.on('synced', () => {
      if (isReading(entry)) markRead(entry);
      changed(s.id);
    });
    entries.set(s.id, entry);
    return entry;
  }

  // A summary arrived (from `desk`, `conversation` or `transfer`). `live`: it is
  // news (not the first snapshot). Without a summary, `id`'s entry is looked at
  // again (a transfer changed).
  function upsert(s, live, id = s && s.id) {
    let entry = entries.get(id);
    if (!s && !entry) return;
    const before = entry ? entry.s : null;
    if (!entry) {
      entry = create(s);
      if (!listed(entry) && id !== openId) {
        entries.delete(id);
        return;
      }
      if (live && LIVE.has(s.state)) arrived(entry);
      if (s.agent === session.myName() && LIVE.has(s.state) && s.state !== 'waiting') transfers.loadHistory(id);
    } else if (s) {
      entry.s = s;
    }
    if (!listed(entry) && id !== openId) {
      drop(id); // taken by a colleague, accepted by one, declined, sent elsewhere
      changed(id);
      return;
    }
    const me = session.myName();
    const assignedToMe = !!before && entry.s.agent === me && before.agent !== me && LIVE.has(entry.s.state);
    if (live && assignedToMe && id !== openId) arrived(entry);
    if (assignedToMe) transfers.loadHistory(id);
    follow(entry);
    changed(id);
  }

  function arrived(entry) {
    if (entry.fresh) return;
    entry.fresh = true;
    notices.chime();
  }

  // Counts what the visitor wrote while the agent was not reading. Only what the
  // list shows is told: the open conversation's views follow its stream themselves.
  function onStreamEvent(entry, e) {
    const s = entry.s;
    const author = e.author || {};
    let news = false;
    if (e.kind === 'message' && author.kind === 'visitor' && e.seq > readSeq(s.id)) {
      if (isReading(entry)) markRead(entry);
      else {
        entry.unread += 1;
        if (entry.stream.synced) notices.chime();
      }
      news = true;
    }
    // The summary that follows says how it ended (closed, transferred, ...); an
    // agent who is told by the stream alone (offered it, outside its queue) has it now.
    if (e.kind === 'closed' && LIVE.has(s.state)) {
      entry.s = { ...s, state: 'closed' };
      upsert(null, false, s.id);
      return;
    }
    if (news) changed(s.id);
  }

  // --- the desk snapshot ---------------------------------------------------------------

  function onDesk(msg) {
    if (msg.agent) session.setMyQueues(msg.agent.queues);
    transfers.fromDesk(msg.transfers);
    const present = new Set();
    for (const s of msg.conversations || []) {
      upsert(s, !firstDesk);
      present.add(s.id);
    }
    // What the desk no longer lists has ended or moved on while we were away.
    for (const [id, entry] of [...entries]) {
      if (present.has(id) || !LIVE.has(entry.s.state) || entry.history) continue;
      if (id === openId) refresh(id);
      else drop(id);
    }
    firstDesk = false;
    for (const entry of entries.values()) {
      follow(entry);
      // A transfer under way survives a reload: its record comes from the history.
      if (entry.s.state === 'transferring' || entry.s.consultant) transfers.loadHistory(entry.s.id);
    }
    changed(null);
  }

  // The open conversation was not in the desk: ask for its summary as it is now.
  async function refresh(id) {
    try {
      const r = await api(`/api/conversations/${encodeURIComponent(id)}`);
      const s = r && r.conversation;
      if (s && s.id === id && entries.has(id)) upsert(s, true);
    } catch {
      // the next event about it says
    }
  }

  // --- reading ---------------------------------------------------------------------------

  function readKey() {
    return `baton.console.read.${session.myName()}`;
  }
  function readMap() {
    try {
      return JSON.parse(localStorage.getItem(readKey()) || '{}') || {};
    } catch {
      return {};
    }
  }
  function readSeq(id) {
    return readMap()[id] || 0;
  }
  function markRead(entry) {
    const m = readMap();
    m[entry.s.id] = entry.stream.lastSeq;
    // Keep the map small: only what is still listed.
    for (const id of Object.keys(m)) if (!entries.has(id)) delete m[id];
    try {
      localStorage.setItem(readKey(), JSON.stringify(m));
    } catch {
      // storage off: unread counts just restart on reload
    }
    entry.unread = 0;
    entry.fresh = false;
  }
  function isReading(entry) {
    return entry.s.id === openId && document.visibilityState === 'visible';
  }
  function attentionCount() {
    let n = 0;
    for (const entry of entries.values()) if (entry.unread > 0 || entry.fresh) n += 1;
    return n;
  }

  document.addEventListener('visibilitychange', () => {
    const entry = openId && entries.get(openId);
    if (entry && isReading(entry)) {
      markRead(entry);
      changed(entry.s.id);
    }
  });

  bus.on('transfer-changed', (id) => upsert(null, false, id));

  return {
    LIVE,
    get openId() {
      return openId;
    },
    get: (id) => entries.get(id) || null,
    listed: (entry) => listed(entry),
    onDesk,
    upsert,
    // Something new for the agent in conversation `id` (an offer came): chime, "New".
    arrived(id) {
      const entry = entries.get(id);
      if (entry) arrived(entry);
    },

    // The listed conversations in list order: transfer requests first (they wait
    // for an answer), then live ones, then ended ones; newest first.
    sorted() {
      const me = session.myName();
      const order = (e) => (transfers.targetsMe(e.s.id) && e.s.agent !== me ? -1 : LIVE.has(e.s.state) ? 0 : 1);
      return [...entries.values()]
        .filter((e) => listed(e))
        .sort((a, b) => order(a) - order(b) || (b.s.updated_at || 0) - (a.s.updated_at || 0) || (a.s.id < b.s.id ? -1 : 1));
    },

    // Opens conversation `id` (followed from now on); the one open before is let go
    // if it is no longer listed.
    open(id) {
      const entry = entries.get(id);
      if (!entry) return null;
      const previous = openId;
      openId = id;
      if (previous && previous !== id) {
        const p = entries.get(previous);
        if (p && !listed(p)) drop(previous);
        else if (p) follow(p);
      }
      follow(entry);
      if (entry.stream.synced) markRead(entry);
      entry.fresh = false;
      bus.emit('open', id);
      changed(previous && previous !== id ? null : id);
      return entry;
    },

    // Closed conversations of the agent's queues, loaded on request.
    addHistory(summaries) {
      for (const s of summaries) if (!entries.has(s.id)) create(s, true);
      changed(null);
    },

    // The connection dropped: every stream resumes after the next hello.
    disconnected() {
      for (const entry of entries.values()) entry.stream.disconnected();
    },

    clear() {
      entries.clear();
      openId = null;
      firstDesk = true;
      changed(null);
    },
  };
}
