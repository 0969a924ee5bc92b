// One conversation's stream of events, as the realtime protocol gives it
// (docs/api.md §3.5 and §3.8), shared by the chat page and the console, and the
// view that shows it in a `log` element.
//
// ConversationStream keeps what the page knows of one conversation: its events by
// sequence number (each kept and told once), the highest seq received (to resume
// from), whether the backlog is complete (synced), the messages this page sent that
// wait for their ack (pending, each with its own client_id, sent again after every
// `synced` until acknowledged), and who is typing. It sends through the `send`
// function it is given and never touches the page.
//
// TranscriptView shows one stream in a log element: events in seq order, pending
// messages below them with their state, and it keeps the log scrolled to the end
// while the reader is there (not when they scrolled up to read).

import { Emitter } from '/assets/emitter.js';
import { el, clear, randomId, formatClock } from '/assets/util.js';

const kRetryMs = 2_000; // after "rate_limited" or "unavailable"
const kTypingShownMs = 8_000; // a typing indicator without news fades after this
const kStickPx = 80; // "at the end" of the log, give or take

// Events (emitter): 'event' (e, p) a new event, p the pending message it settled
// (or null); 'synced'; 'pending' (p) added; 'pending-state' (p) failed, held or
// released; 'pending-removed' (p); 'outbox' after any change to the pending
// messages; 'typing' (typing).
//
// A pending message p is {client_id, kind ('message' | 'note'), text, at, failed,
// held, stored}: `held` ones are not sent (the chat page carries them to another
// organization), `stored` ones were stored already (the chat's first message, sent
// with the conversation's creation) and wait for the backlog to confirm them.
export class ConversationStream extends Emitter {
  // `self`: the author of what this page writes, {kind: 'visitor'} or
  // {kind: 'agent', id, name}; typing of the same kind is not shown.
  constructor({ id, send, self }) {
    super();
    this.id = id;
    this.send = send;
    this.self = self;
    this.events = new Map(); // seq -> event
    this.lastSeq = 0; // highest seq of an event received: what to resume from (never an ack's)
    this.synced = false;
    this.subscribed = false;
    this.pending = new Map(); // client_id -> pending message
    this.typing = null; // {name, until}
  }

  // The events, oldest first.
  sorted() {
    return [...this.events.values()].sort((a, b) => a.seq - b.seq);
  }

  // The connection dropped: a new backlog must come before anything is sent again.
  disconnected() {
    this.synced = false;
    this.subscribed = false;
  }

  // Agents follow a conversation by subscribing; visitors are subscribed by hello.
  subscribe() {
    if (!this.send({ type: 'subscribe', conversation: this.id, after_seq: this.lastSeq })) return false;
    this.subscribed = true;
    this.synced = false;
    return true;
  }

  unsubscribe() {
    if (this.subscribed) this.send({ type: 'unsubscribe', conversation: this.id });
    this.subscribed = false;
    this.synced = false;
  }

  // A server message about this conversation. Returns whether it was one of the
  // stream's: event, synced, ack, typing, or the error answering a pending message.
  receive(msg) {
    switch (msg.type) {
      case 'event':
        this.#event(msg);
        return true;
      case 'synced':
        this.synced = true;
        this.emit('synced');
        this.flush();
        return true;
      case 'ack':
        this.#ack(msg);
        return true;
      case 'typing':
        this.#typing(msg);
        return true;
      case 'error':
        return this.#error(msg);
      default:
        return false;
    }
  }

  #event(e) {
    if (typeof e.seq !== 'number') return;
    const known = this.events.get(e.seq);
    if (known) {
      // Acknowledged before its event came: keep the server's copy, tell nobody.
      if (known.local) this.events.set(e.seq, e);
      return;
    }
    this.events.set(e.seq, e);
    this.lastSeq = Math.max(this.lastSeq, e.seq);
    const p = e.client_id ? this.pending.get(e.client_id) : null;
    if (p && p.held) return; // stored here after all, but it goes with the visitor
    if (p) this.pending.delete(p.client_id);
    const author = e.author || {};
    if (e.kind === 'message' && author.kind !== this.self.kind && this.typing) {
      this.typing = null;
      this.emit('typing', null);
    }
    this.emit('event', e, p || null);
    if (p) this.emit('outbox');
  }

  #ack(msg) {
    const p = this.pending.get(msg.client_id);
    if (!p || p.held || typeof msg.seq !== 'number') return;
    this.pending.delete(p.client_id);
    // The ack may come before the event (and its seq may be past events not yet
    // received, so lastSeq does not move): the event is known from here on.
    let e = this.events.get(msg.seq);
    if (!e) {
      e = {
        type: 'event',
        conversation: this.id,
        seq: msg.seq,
        kind: p.kind,
        author: { ...this.self },
        text: p.text,
        client_id: p.client_id,
        at: p.at,
        local: true,
      };
      this.events.set(msg.seq, e);
    }
    this.emit('event', e, p);
    this.emit('outbox');
  }

  #typing(msg) {
    const who = msg.who;
    if (!who || who.kind === this.self.kind) return;
    const name = who.name || (who.kind === 'visitor' ? 'The visitor' : 'The agent');
    this.typing = msg.on ? { name, until: Date.now() + kTypingShownMs } : null;
    this.emit('typing', this.typing);
  }

  #error(msg) {
    const p = msg.client_id ? this.pending.get(msg.client_id) : null;
    if (!p) return false;
    if (msg.code === 'rate_limited' || msg.code === 'unavailable') {
      setTimeout(() => {
        if (this.pending.get(p.client_id) === p && !p.failed && this.synced) this.#sendOne(p);
      }, kRetryMs);
      return true;
    }
    p.failed = true;
    p.error = msg.message || msg.code || '';
    this.emit('pending-state', p);
    this.emit('outbox');
    return true;
  }

  // Writes a message or note: shown at once, sent now or after the next synced.
  post(kind, text, { held = false, stored = false, client_id = randomId(), at = Date.now() } = {}) {
    const p = { client_id, kind, text, at, failed: false, held, stored, error: '' };
    this.pending.set(client_id, p);
    this.emit('pending', p);
    this.emit('outbox');
    if (this.synced) this.#sendOne(p);
    return p;
  }

  // Sends every pending message that may go (not failed, held or stored already).
  flush() {
    for (const p of this.pending.values()) this.#sendOne(p);
  }

  #sendOne(p) {
    if (p.failed || p.held || p.stored) return;
    this.send({ type: p.kind, conversation: this.id, client_id: p.client_id, text: p.text });
  }

  retry(client_id) {
    const p = this.pending.get(client_id);
    if (!p || !p.failed) return;
    p.failed = false;
    p.error = '';
    this.emit('pending-state', p);
    this.emit('outbox');
    if (this.synced) this.#sendOne(p);
  }

  // Holds a message back (it is carried elsewhere), or lets it go again.
  hold(client_id, held) {
    const p = this.pending.get(client_id);
    if (!p || p.held === held) return;
    p.held = held;
    this.emit('pending-state', p);
    this.emit('outbox');
  }

  drop(client_id) {
    const p = this.pending.get(client_id);
    if (!p) return;
    this.pending.delete(client_id);
    this.emit('pending-removed', p);
    this.emit('outbox');
  }
}

// Shows "NAME is typing…" in `node` until the typing ends or fades.
export class TypingLine {
  #timer = null;

  constructor(node) {
    this.node = node;
  }

  show(typing) {
    clearTimeout(this.#timer);
    const on = typing && typing.until > Date.now();
    this.node.textContent = on ? `${typing.name} is typing…` : '';
    if (on) this.#timer = setTimeout(() => this.show(null), typing.until - Date.now());
  }
}

// Shows one stream at a time in `log`. The page says how an event and a pending
// message look: eventNode(e) and pendingNode(p) return an element holding a
// <time> (eventNode may return null: not shown); pendingState(p, stream) returns what the pending line says (text or
// nodes; default "Sending…"). `loadingText`: shown until the backlog is in.
export class TranscriptView {
  #stream = null;
  #off = [];
  #nodes = new Map(); // client_id -> node of a pending message
  #loading = null;

  constructor(log, { eventNode, pendingNode, pendingState, loadingText = '' }) {
    this.log = log;
    this.eventNode = eventNode;
    this.pendingNode = pendingNode;
    this.pendingState = pendingState || (() => 'Sending…');
    this.loadingText = loadingText;
  }

  get stream() {
    return this.#stream;
  }

  // Shows `stream` (or nothing), scrolled to its end.
  show(stream) {
    this.detach();
    clear(this.log);
    this.#stream = stream;
    if (!stream) return;
    for (const e of stream.sorted()) {
      const node = this.eventNode(e);
      if (node) this.log.append(node);
    }
    for (const p of stream.pending.values()) this.log.append(this.#pendingNode(p));
    this.#renderLoading();
    this.#off = [
      stream.on('event', (e, p) => this.#onEvent(e, p)),
      stream.on('pending', (p) => this.#onPending(p)),
      stream.on('pending-state', (p) => this.#renderState(p)),
      stream.on('pending-removed', (p) => this.#removePending(p)),
      stream.on('synced', () => this.#renderLoading()),
    ];
    this.scrollToEnd();
  }

  detach() {
    for (const off of this.#off) off();
    this.#off = [];
    this.#nodes.clear();
    this.#loading = null;
    this.#stream = null;
  }

  // Re-draws every pending message's state line (the page's wording changed).
  refreshPending() {
    if (!this.#stream) return;
    for (const p of this.#stream.pending.values()) this.#renderState(p);
  }

  atEnd() {
    const s = this.log;
    return s.scrollHeight - s.scrollTop - s.clientHeight < kStickPx;
  }

  scrollToEnd() {
    this.log.scrollTop = this.log.scrollHeight;
  }

  #onEvent(e, p) {
    const stick = this.atEnd();
    const node = p ? this.#nodes.get(p.client_id) : null;
    if (node) {
      this.#nodes.delete(p.client_id);
      node.classList.remove('msg-pending', 'msg-failed');
      const state = node.querySelector('.msg-state');
      if (state) state.remove();
      node.dataset.seq = String(e.seq);
      const time = node.querySelector('time');
      if (time && e.at) time.textContent = formatClock(e.at);
      node.remove();
      this.#place(node, e.seq);
    } else {
      const fresh = this.eventNode(e);
      if (fresh) this.#place(fresh, e.seq);
    }
    if (stick) this.scrollToEnd();
  }

  #onPending(p) {
    this.log.insertBefore(this.#pendingNode(p), this.#loading);
    this.scrollToEnd(); // the writer wants to see what they wrote
  }

  #pendingNode(p) {
    const node = this.pendingNode(p);
    node.classList.add('msg-pending');
    node.append(el('p', { class: 'msg-state' }));
    this.#nodes.set(p.client_id, node);
    this.#renderState(p);
    return node;
  }

  #renderState(p) {
    const node = this.#nodes.get(p.client_id);
    if (!node) return;
    node.classList.toggle('msg-failed', !!p.failed);
    const state = node.querySelector('.msg-state');
    clear(state);
    const content = this.pendingState(p, this.#stream);
    for (const part of Array.isArray(content) ? content : [content]) {
      if (part !== null && part !== undefined && part !== '') state.append(part);
    }
  }

  #removePending(p) {
    const node = this.#nodes.get(p.client_id);
    this.#nodes.delete(p.client_id);
    if (node) node.remove();
  }

  #renderLoading() {
    const want = !!this.loadingText && this.#stream && !this.#stream.synced;
    if (want && !this.#loading) {
      this.#loading = el('p', { class: 'sys loading-line', text: this.loadingText });
      this.log.append(this.#loading);
    } else if (!want && this.#loading) {
      this.#loading.remove();
      this.#loading = null;
    }
  }

  // Puts an event's node in seq order: after every event before it, before the
  // pending messages (which are stored after anything already on screen).
  #place(node, seq) {
    let before = null;
    for (const n of this.#nodes.values()) {
      if (n.isConnected && (!before || n.compareDocumentPosition(before) & Node.DOCUMENT_POSITION_FOLLOWING)) before = n;
    }
    if (!before) before = this.#loading;
    let prev = before ? before.previousElementSibling : this.log.lastElementChild;
    while (prev && prev.dataset.seq && Number(prev.dataset.seq) > seq) {
      before = prev;
      prev = prev.previousElementSibling;
    }
    this.log.insertBefore(node, before);
  }
}
