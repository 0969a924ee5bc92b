// The agent console: /console.
//
// Signing in sets an HttpOnly session cookie; the console's WebSocket and API
// calls are authenticated by it, so no token is kept by this script. On hello the
// server sends the agent's desk (its conversations and its queues' waiting ones),
// then "conversation" summaries as they change. The console subscribes to the
// agent's own live conversations (for unread counts and typing) and to the one
// that is open; each subscription resumes from the last sequence number seen.
//
// Transfers (DESIGN.md §2.2): the sender follows its transfer's state ("transfer"
// messages, on every change, to both agents involved); the agent offered one
// reads the conversation and accepts or declines; a warm consult gives both a
// private notes area. The open conversation's transfer history comes from
// GET /api/conversations/ID/transfers.
//
// Transfers to partner organizations (DESIGN.md §2.3, docs/federation.md): picking
// a partner in the Transfer dialog sends the offer; the partner's answer (its
// queues, with their wait figures) comes as a "transfer" event and is offered in
// the dialog; "Transfer" then confirms a queue with the note. The sender follows
// the transfer (asking, moving the visitor, transferred or failed) in "Transfer
// status". A conversation received from a partner shows where it came from, the
// note, and "Send back to <partner>" (transfer.return).

import {
  el, clear, randomId, formatClock, formatDateTime, formatDuration, shortBrowser, api, download, utf8Bytes, kMaxMessageBytes,
} from '/assets/util.js';
import { Realtime } from '/assets/realtime.js';

const $ = (id) => document.getElementById(id);
const ui = {
  loading: $('loading'),
  signin: $('signin'),
  signinForm: $('signin-form'),
  signinNotice: $('signin-notice'),
  signinError: $('signin-error'),
  username: $('username'),
  password: $('password'),
  app: $('app'),
  org: $('org'),
  connection: $('connection'),
  status: $('status'),
  statusDot: $('status-dot'),
  meName: $('me-name'),
  sound: $('sound'),
  signout: $('signout'),
  queues: $('queues'),
  list: $('conversations'),
  listEmpty: $('list-empty'),
  history: $('history'),
  placeholder: $('placeholder'),
  conversation: $('conversation'),
  convTitle: $('conv-title'),
  convSub: $('conv-sub'),
  claim: $('claim'),
  transfer: $('transfer'),
  close: $('close'),
  exportBtn: $('export'),
  convError: $('conv-error'),
  transcript: $('transcript'),
  typing: $('typing'),
  closedNote: $('closed-note'),
  composer: $('composer'),
  message: $('message'),
  noteMode: $('note-mode'),
  send: $('send'),
  details: $('details'),
  dialog: $('transfer-dialog'),
  transferForm: $('transfer-form'),
  transferAgents: $('transfer-agents'),
  transferQueues: $('transfer-queues'),
  transferPartners: $('transfer-partners'),
  transferPeerQueues: $('transfer-peer-queues'),
  transferPeerQueuesTitle: $('transfer-peer-queues-title'),
  transferNote: $('transfer-note'),
  transferResult: $('transfer-result'),
  transferCancel: $('transfer-cancel'),
  transferConsult: $('transfer-consult'),
  transferConfirm: $('transfer-confirm'),
  transferConsultHint: $('transfer-consult-hint'),
  offer: $('offer'),
  offerTime: $('offer-time'),
  offerText: $('offer-text'),
  offerNote: $('offer-note'),
  offerAnswer: $('offer-answer'),
  offerReason: $('offer-reason'),
  offerAccept: $('offer-accept'),
  offerDecline: $('offer-decline'),
  offerError: $('offer-error'),
  xfer: $('xfer'),
  xferText: $('xfer-text'),
  xferTime: $('xfer-time'),
  xferCancel: $('xfer-cancel'),
  xferChoose: $('xfer-choose'),
  xferDismiss: $('xfer-dismiss'),
  handover: $('handover'),
  handoverText: $('handover-text'),
  handoverNote: $('handover-note'),
  handoverDismiss: $('handover-dismiss'),
  partner: $('partner'),
  partnerTitle: $('partner-title'),
  partnerText: $('partner-text'),
  partnerNote: $('partner-note'),
  partnerReturn: $('partner-return'),
  partnerError: $('partner-error'),
  consult: $('consult'),
  consultTitle: $('consult-title'),
  consultTime: $('consult-time'),
  consultText: $('consult-text'),
  consultLog: $('consult-log'),
  consultForm: $('consult-form'),
  consultNote: $('consult-note'),
  consultNoteLabel: $('consult-note-label'),
  consultSend: $('consult-send'),
  consultJoin: $('consult-join'),
  consultHandover: $('consult-handover'),
  consultEnd: $('consult-end'),
  consultLeave: $('consult-leave'),
  consultError: $('consult-error'),
  transferHistory: $('transfer-history'),
  transferHistoryEmpty: $('transfer-history-empty'),
  toast: $('toast'),
  toastText: $('toast-text'),
  toastOpen: $('toast-open'),
  toastClose: $('toast-close'),
};

const kTypingIdleMs = 3_000;
const kTypingShownMs = 8_000;
const LIVE = new Set(['waiting', 'active', 'transferring']);
const OPEN_TRANSFER = new Set(['offered', 'consulting', 'joined', 'offering', 'moving']);
const kDialogAnswerMs = 15_000;
const kToastMs = 12_000;

let me = null; // from /api/agent/me: {agent, organization, queues, agents}
let rt = null;
let openId = null;
let status = 'offline';
let firstDesk = true;
let soundOn = true;
let audio = null;
let queueInfo = [];
let historyCursors = null; // queue -> cursor (null: no more)
let typingSent = false;
let typingFor = null;
let typingIdleTimer = null;
let tickTimer = null;

// id -> {s: summary, events: Map(seq -> event), lastSeq, subscribed, synced,
//        unread, fresh, typing: {name, until}, pending: Map(client_id -> {...}), node}
const convs = new Map();

// Transfers. xferOf: conversation id -> the latest transfer of it that involves
// this agent (as sender or target), with `localDeadline` (this clock) and `seen`
// (its outcome was dismissed). historyOf: conversation id -> Map(transfer id ->
// transfer), what /transfers said merged with what came live.
const xferOf = new Map();
const historyOf = new Map();
let dialogRequest = null; // {type, conversation, timer}: the dialog waits for its answer
let peerDialog = null; // {conversation, partner, display}: the dialog is transferring to a partner
const returning = new Set(); // conversations whose "Send back" waits for its answer
const actions = new Map(); // reply type -> {conversation, transfer}: buttons waiting for theirs
let toastTimer = null;
let toastConversation = null;
const historyTimers = new Map();

// --- sign in and out -----------------------------------------------------------

function showSignin(notice) {
  ui.loading.hidden = true;
  ui.app.hidden = true;
  ui.signin.hidden = false;
  ui.signinNotice.textContent = notice || '';
  document.title = 'Sign in · Baton console';
  ui.username.focus();
}

ui.signinForm.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  unlockAudio();
  ui.signinError.textContent = '';
  const username = ui.username.value.trim();
  const password = ui.password.value;
  if (!username || !password) {
    ui.signinError.textContent = 'Enter your username and password.';
    (username ? ui.password : ui.username).focus();
    return;
  }
  const button = ui.signinForm.querySelector('button[type=submit]');
  button.disabled = true;
  try {
    await api('/api/agent/session', { method: 'POST', body: { username, password } });
    ui.password.value = '';
    await enter();
  } catch (e) {
    ui.signinError.textContent =
      e.status === 401 || e.status === 403 ? 'That username and password do not match.' : e.message;
    ui.password.select();
  } finally {
    button.disabled = false;
  }
});

ui.signout.addEventListener('click', async () => {
  ui.signout.disabled = true;
  try {
    // Offline now, rather than after the server's grace period for dropped consoles;
    // first, since signing out closes this session's sockets.
    if (rt) rt.send({ type: 'status', status: 'offline' });
    // The session cookie is HttpOnly: only the server can end it.
    await api('/api/agent/session', { method: 'DELETE', timeoutMs: 10_000 });
    leave('You are signed out.');
  } catch (e) {
    if (e.status === 401) leave('You are signed out.');
    else ui.connection.textContent = `Could not sign out: ${e.message}`;
  } finally {
    ui.signout.disabled = false;
  }
});

function leave(notice) {
  if (rt) rt.stop();
  rt = null;
  me = null;
  convs.clear();
  xferOf.clear();
  historyOf.clear();
  actions.clear();
  hideToast();
  openId = null;
  firstDesk = true;
  clear(ui.list);
  clearInterval(tickTimer);
  closeConversationView();
  showSignin(notice);
}

async function enter() {
  try {
    me = await api('/api/agent/me');
  } catch (e) {
    if (e.status === 401 || e.status === 403) return showSignin();
    ui.loading.textContent = `The console cannot reach the server: ${e.message}`;
    setTimeout(enter, 3000);
    return;
  }
  ui.loading.hidden = true;
  ui.signin.hidden = true;
  ui.app.hidden = false;
  ui.org.textContent = me.organization || '';
  ui.meName.textContent = me.agent ? me.agent.display_name || me.agent.name : '';
  historyCursors = null;
  ui.history.hidden = false;
  ui.history.textContent = 'Show closed conversations';
  updateTitle();
  startRealtime();
  clearInterval(tickTimer);
  tickTimer = setInterval(tick, 1000);
}

// --- realtime ------------------------------------------------------------------

function startRealtime() {
  rt = new Realtime({
    hello: () => ({ type: 'hello', role: 'agent' }),
    onMessage,
    onState: (s) => {
      ui.connection.textContent = s === 'reconnecting' ? 'Connection lost. Reconnecting…' : '';
      if (s !== 'open') for (const c of convs.values()) c.subscribed = c.synced = false;
    },
  });
  rt.start();
}

function onMessage(msg) {
  switch (msg.type) {
    case 'welcome':
      break;
    case 'desk':
      onDesk(msg);
      break;
    case 'conversation':
      if (msg.conversation) upsert(msg.conversation, true);
      renderList();
      break;
    case 'queues':
      queueInfo = Array.isArray(msg.queues) ? msg.queues : [];
      renderQueues();
      break;
    case 'status':
      setStatus(msg.status);
      break;
    case 'event':
      onEvent(msg);
      break;
    case 'synced':
      onSynced(msg);
      break;
    case 'ack':
      onAck(msg);
      break;
    case 'typing':
      onTyping(msg);
      break;
    case 'ok':
      if (msg.in_reply_to === 'close' || msg.in_reply_to === 'claim') ui.convError.textContent = '';
      if (msg.transfer) onTransferReply(msg);
      break;
    case 'transfer':
      onTransfer(msg);
      break;
    case 'error':
      onError(msg);
      break;
    default:
      break;
  }
}

function onDesk(msg) {
  if (msg.agent) {
    setStatus(msg.agent.status);
    if (me && me.agent) me.agent.queues = msg.agent.queues || me.agent.queues;
  }
  if (msg.organization) ui.org.textContent = msg.organization;
  // Open transfers this agent is part of, when the server lists them with the desk.
  for (const t of Array.isArray(msg.transfers) ? msg.transfers : []) {
    if (t && t.id && t.conversation && roleIn(t)) remember(t, false);
  }
  const present = new Set();
  for (const s of msg.conversations || []) {
    upsert(s, !firstDesk);
    present.add(s.id);
  }
  // What the desk no longer lists has ended or moved on while we were away.
  for (const [id, c] of convs) {
    if (!present.has(id) && LIVE.has(c.s.state) && !c.history && id !== openId && !involvesMe(id)) convs.delete(id);
  }
  firstDesk = false;
  for (const c of convs.values()) ensureSubscription(c);
  // A transfer under way survives a reload: its record comes from the history.
  for (const c of convs.values()) {
    if (c.s.state === 'transferring' || c.s.consultant) loadHistory(c.s.id);
  }
  renderList();
  if (openId && convs.has(openId)) renderConversation();
}

function myName() {
  return me && me.agent ? me.agent.name : '';
}

function shouldList(s) {
  return s.agent === myName() || s.state === 'waiting' || involvesMe(s.id) || (!!s.consultant && s.consultant === myName());
}

function wantsSubscription(c) {
  if (c.s.id === openId) return true;
  if (!LIVE.has(c.s.state)) return false;
  // Offered or consulted: the transcript is there to read before answering.
  if (involvesMe(c.s.id) || c.s.consultant === myName()) return true;
  return c.s.agent === myName() && c.s.state !== 'waiting';
}

function ensureSubscription(c) {
  if (!rt) return;
  if (wantsSubscription(c)) {
    if (!c.subscribed) {
      if (rt.send({ type: 'subscribe', conversation: c.s.id, after_seq: c.lastSeq })) {
        c.subscribed = true;
        c.synced = false;
      }
    }
  } else if (c.subscribed) {
    rt.send({ type: 'unsubscribe', conversation: c.s.id });
    c.subscribed = false;
    c.synced = false;
  }
}

function newConv(s) {
  return {
    s,
    events: new Map(),
    lastSeq: 0,
    subscribed: false,
    synced: false,
    unread: 0,
    fresh: false,
    typing: null,
    pending: new Map(),
    node: null,
    history: false,
  };
}

// A summary arrived. `live`: it is news (not the first snapshot).
function upsert(s, live) {
  if (!s || !s.id) return;
  let c = convs.get(s.id);
  const before = c ? c.s : null;
  if (!c) {
    if (!shouldList(s) && s.id !== openId) return;
    c = newConv(s);
    convs.set(s.id, c);
    if (live && LIVE.has(s.state)) arrived(c);
    if (s.agent === myName() && LIVE.has(s.state) && s.state !== 'waiting') loadHistory(s.id);
  } else {
    c.s = s;
    if (!shouldList(s) && s.id !== openId && LIVE.has(s.state)) {
      // Taken by a colleague, or sent elsewhere.
      if (c.subscribed && rt) rt.send({ type: 'unsubscribe', conversation: s.id });
      convs.delete(s.id);
      return;
    }
    const assignedToMe = s.agent === myName() && before.agent !== myName() && LIVE.has(s.state);
    if (live && assignedToMe && s.id !== openId) arrived(c);
    if (assignedToMe && !historyOf.has(s.id)) loadHistory(s.id);
  }
  ensureSubscription(c);
  if (s.id === openId) renderConversation();
}

function arrived(c) {
  if (c.fresh) return;
  c.fresh = true;
  chime();
  updateTitle();
}

function onEvent(e) {
  const c = convs.get(e.conversation);
  if (!c || typeof e.seq !== 'number') return;
  if (c.events.has(e.seq)) return;
  c.events.set(e.seq, e);
  c.lastSeq = Math.max(c.lastSeq, e.seq);
  const author = e.author || {};
  if (e.kind === 'message' && author.kind === 'agent' && e.client_id && c.pending.has(e.client_id)) {
    c.pending.delete(e.client_id);
  }
  if (e.kind === 'note' && e.client_id && c.pending.has(e.client_id)) c.pending.delete(e.client_id);
  if (e.kind === 'message' && author.kind === 'visitor') {
    c.typing = null;
    if (e.seq > readSeq(c.s.id)) {
      if (isReading(c)) markRead(c);
      else {
        c.unread += 1;
        if (c.synced) chime();
      }
    }
  }
  // The summary that comes with it says how it ended (closed, transferred, ...).
  if (e.kind === 'closed' && LIVE.has(c.s.state)) c.s = { ...c.s, state: 'closed' };
  if (c.s.id === openId) {
    if (c.synced) appendEvent(e, c);
    if (e.kind === 'closed') renderConversation();
    if (e.kind === 'note' && ui.consult.hidden === false) renderConsultLog(c);
    // Someone joined or left: a transfer may have ended; its record is in the history.
    if (c.synced && (e.kind === 'joined' || e.kind === 'left')) scheduleHistory(c.s.id);
  }
  renderListItem(c);
  updateTitle();
}

function onSynced(msg) {
  const c = convs.get(msg.conversation);
  if (!c) return;
  c.synced = true;
  // Messages written while disconnected go out again with their client ids.
  for (const [client_id, p] of c.pending) {
    if (!p.failed && ![...c.events.values()].some((e) => e.client_id === client_id)) {
      rt.send({ type: p.kind, conversation: c.s.id, client_id, text: p.text });
    } else if (!p.failed) {
      c.pending.delete(client_id);
    }
  }
  if (c.s.id === openId) {
    renderTranscript(c);
    if (isReading(c)) markRead(c);
  }
  renderListItem(c);
  updateTitle();
}

function onAck(msg) {
  const c = convs.get(msg.conversation);
  if (!c) return;
  const p = c.pending.get(msg.client_id);
  if (!p) return;
  c.pending.delete(msg.client_id);
  if (p.node) {
    p.node.classList.remove('pending');
    const st = p.node.querySelector('.msg-state');
    if (st) st.remove();
    p.node.dataset.seq = String(msg.seq);
  }
  // The event itself arrives too (the sender is subscribed); it replaces nothing twice.
  if (!c.events.has(msg.seq)) {
    c.events.set(msg.seq, {
      type: 'event',
      conversation: c.s.id,
      seq: msg.seq,
      kind: p.kind,
      author: { kind: 'agent', id: myName(), name: me.agent.display_name },
      text: p.text,
      client_id: msg.client_id,
      at: p.at,
      rendered: true,
    });
    c.lastSeq = Math.max(c.lastSeq, msg.seq);
  }
  if (p.kind === 'note' && c.s.id === openId && !ui.consult.hidden) renderConsultLog(c);
}

function onTyping(msg) {
  const c = convs.get(msg.conversation);
  if (!c || !msg.who || msg.who.kind !== 'visitor') return;
  c.typing = msg.on ? { name: msg.who.name || 'The visitor', until: Date.now() + kTypingShownMs } : null;
  if (c.s.id === openId) renderTyping(c);
}

function onError(msg) {
  if (msg.in_reply_to === 'hello') {
    if (msg.code === 'unauthorized' || msg.code === 'forbidden') leave('Your session has ended. Please sign in again.');
    return;
  }
  if (onTransferError(msg)) return;
  const c = msg.conversation ? convs.get(msg.conversation) : null;
  if (c && msg.client_id && c.pending.has(msg.client_id)) {
    const p = c.pending.get(msg.client_id);
    if (msg.code === 'rate_limited' || msg.code === 'unavailable') {
      setTimeout(() => {
        if (c.pending.has(msg.client_id) && c.synced) rt.send({ type: p.kind, conversation: c.s.id, client_id: msg.client_id, text: p.text });
      }, 2000);
      return;
    }
    p.failed = true;
    if (p.node) {
      p.node.classList.add('failed');
      const st = p.node.querySelector('.msg-state');
      if (st) st.textContent = `Not sent: ${msg.message || msg.code}`;
    }
    return;
  }
  if (msg.in_reply_to === 'subscribe' && c) {
    c.subscribed = false;
    if (c.s.id !== openId) return;
  }
  if (msg.in_reply_to === 'status') ui.status.value = status;
  if (!c || c.s.id === openId) ui.convError.textContent = msg.message || 'Something went wrong.';
}

function setStatus(s) {
  if (!s) return;
  status = s;
  ui.status.value = s;
  ui.statusDot.className = `dot dot-${s}`;
}

ui.status.addEventListener('change', () => {
  const want = ui.status.value;
  if (!rt || !rt.send({ type: 'status', status: want })) {
    ui.status.value = status;
    ui.connection.textContent = 'Not connected; the status could not be changed.';
  }
});

// --- reading, unread, title, sound --------------------------------------------

function readKey() {
  return `baton.console.read.${myName()}`;
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
function markRead(c) {
  const m = readMap();
  m[c.s.id] = c.lastSeq;
  // Keep the map small: only what is still listed.
  for (const id of Object.keys(m)) if (!convs.has(id)) delete m[id];
  try {
    localStorage.setItem(readKey(), JSON.stringify(m));
  } catch {
    // storage off: unread counts just restart on reload
  }
  c.unread = 0;
  c.fresh = false;
}

function isReading(c) {
  return c.s.id === openId && document.visibilityState === 'visible';
}

function attentionCount() {
  let n = 0;
  for (const c of convs.values()) if (c.unread > 0 || c.fresh) n += 1;
  return n;
}

function updateTitle() {
  const n = attentionCount();
  const base = me && me.organization ? `Baton console · ${me.organization}` : 'Baton console';
  document.title = n > 0 ? `(${n}) ${base}` : base;
}

document.addEventListener('visibilitychange', () => {
  const c = openId && convs.get(openId);
  if (c && isReading(c)) {
    markRead(c);
    renderListItem(c);
    updateTitle();
  }
});

function unlockAudio() {
  try {
    if (!audio) {
      const Ctx = window.AudioContext || window.webkitAudioContext;
      if (Ctx) audio = new Ctx();
    }
    if (audio && audio.state === 'suspended') audio.resume();
  } catch {
    audio = null;
  }
}
document.addEventListener('pointerdown', unlockAudio, { once: false, passive: true });
document.addEventListener('keydown', unlockAudio, { passive: true });

// Two short rising tones, made on the spot: no sound file to fetch.
function chime() {
  if (!soundOn || !audio || audio.state !== 'running') return;
  const t = audio.currentTime;
  for (const [i, freq] of [[0, 660], [1, 880]]) {
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.type = 'sine';
    osc.frequency.value = freq;
    const start = t + i * 0.14;
    gain.gain.setValueAtTime(0.0001, start);
    gain.gain.exponentialRampToValueAtTime(0.18, start + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, start + 0.22);
    osc.connect(gain).connect(audio.destination);
    osc.start(start);
    osc.stop(start + 0.25);
  }
}

ui.sound.addEventListener('click', () => {
  soundOn = !soundOn;
  ui.sound.setAttribute('aria-pressed', String(soundOn));
  ui.sound.textContent = soundOn ? 'Sound on' : 'Sound off';
  if (soundOn) chime();
});

// --- the list ----------------------------------------------------------------------

function visitorLabel(s) {
  const name = s.visitor && s.visitor.name;
  if (name) return name;
  return `Visitor ${String(s.id || '').slice(-4)}`;
}

function sortedConvs() {
  // Transfer requests first: they wait for an answer with a deadline.
  const order = (c) => (involvesMe(c.s.id) && c.s.agent !== myName() ? -1 : LIVE.has(c.s.state) ? 0 : 1);
  return [...convs.values()]
    .filter((c) => shouldList(c.s) || !LIVE.has(c.s.state) || c.s.id === openId)
    .sort((a, b) => order(a) - order(b) || (b.s.updated_at || 0) - (a.s.updated_at || 0) || (a.s.id < b.s.id ? -1 : 1));
}

function renderList() {
  const items = sortedConvs();
  const focused = document.activeElement;
  const hadFocus = focused && ui.list.contains(focused) ? focused.closest('li') : null;
  const wanted = new Set(items.map((c) => c.s.id));
  for (const li of [...ui.list.children]) if (!wanted.has(li.dataset.id)) li.remove();
  let cursor = ui.list.firstElementChild;
  for (const c of items) {
    renderListItem(c);
    if (c.node !== cursor) ui.list.insertBefore(c.node, cursor);
    else cursor = cursor.nextElementSibling;
  }
  if (hadFocus && hadFocus.isConnected && document.activeElement !== focused) {
    const b = hadFocus.querySelector('button');
    if (b) b.focus();
  }
  ui.listEmpty.hidden = items.length > 0;
  updateTitle();
}

function renderListItem(c) {
  const s = c.s;
  if (!c.node) {
    c.node = el('li', { class: 'conv-item', 'data-id': s.id });
    const button = el('button', { type: 'button', class: 'conv-open', on: { click: () => openConversation(s.id) } });
    c.node.append(button);
  }
  const li = c.node;
  const button = li.firstElementChild;
  li.className = `conv-item state-${s.state}${c.unread ? ' has-unread' : ''}${c.fresh ? ' is-fresh' : ''}${s.id === openId ? ' is-open' : ''}`;
  if (s.id === openId) button.setAttribute('aria-current', 'true');
  else button.removeAttribute('aria-current');
  clear(button);
  const tags = [];
  if (s.state === 'waiting') {
    const since = s.waiting_since ? ` ${formatDuration(Date.now() - s.waiting_since)}` : '';
    tags.push(el('span', { class: 'tag tag-waiting', 'data-since': s.waiting_since || '', text: `Waiting${since}` }));
    if (s.offline) tags.push(el('span', { class: 'tag tag-offline', text: 'Offline message' }));
  } else if (s.state === 'active') {
    tags.push(el('span', { class: 'tag tag-active', text: 'Active' }));
  } else if (s.state === 'transferring') {
    if (!isOpen(xferOf.get(s.id))) tags.push(el('span', { class: 'tag tag-active', text: 'Transferring' }));
  } else if (s.state === 'transferred') {
    tags.push(el('span', { class: 'tag tag-transferred', text: transferredText(c) }));
  } else {
    tags.push(el('span', { class: 'tag tag-closed', text: s.state === 'closed' ? 'Closed' : s.state === 'abandoned' ? 'Abandoned' : s.state }));
  }
  const inbound = inboundTransfer(c);
  if (inbound && LIVE.has(s.state)) tags.push(el('span', { class: 'tag tag-partner', text: `From ${inbound.origin_organization || inbound.to_peer}` }));
  const xt = transferTag(s.id);
  if (xt) tags.push(xt);
  if (s.queue) tags.push(el('span', { class: 'tag tag-queue', text: s.queue }));
  button.append(
    el(
      'span',
      { class: 'ci-top' },
      el('span', { class: 'ci-name', text: visitorLabel(s) }),
      el('time', { class: 'ci-time', text: formatClock(s.updated_at) }),
    ),
    el('span', { class: 'ci-last', text: s.last_message || (s.state === 'waiting' ? 'No message yet' : '') }),
    el(
      'span',
      { class: 'ci-meta' },
      ...tags,
      c.unread > 0
        ? el('span', { class: 'unread' }, String(c.unread), el('span', { class: 'visually-hidden', text: c.unread === 1 ? ' unread message' : ' unread messages' }))
        : null,
      c.fresh && !c.unread ? el('span', { class: 'new', text: 'New' }) : null,
    ),
  );
}

function renderQueues() {
  clear(ui.queues);
  const mine = new Set((me && me.agent && me.agent.queues) || []);
  for (const q of queueInfo) {
    if (mine.size && !mine.has(q.name)) continue;
    const text = q.waiting > 0
      ? `${q.waiting} waiting · longest ${formatDuration(q.longest_wait_ms || 0)}`
      : 'nobody waiting';
    ui.queues.append(
      el(
        'li',
        { class: `queue${q.waiting > 0 ? ' queue-busy' : ''}` },
        el('span', { class: 'queue-name', text: q.name }),
        ' ',
        el('span', { class: 'queue-info', text }),
        q.online ? null : el('span', { class: 'queue-off', text: ' · no agent online' }),
      ),
    );
  }
}

function tick() {
  // Waiting times count up without a server round trip.
  for (const tag of ui.list.querySelectorAll('.tag-waiting')) {
    const since = Number(tag.dataset.since);
    if (since) tag.textContent = `Waiting ${formatDuration(Date.now() - since)}`;
  }
  for (const tag of ui.list.querySelectorAll('[data-deadline]')) {
    tag.textContent = `${tag.dataset.label} · ${timeLeft(Number(tag.dataset.deadline))}`;
  }
  const c = openId && convs.get(openId);
  if (c) {
    renderCountdowns(c);
    const w = ui.details.querySelector('[data-waiting]');
    if (w) w.textContent = waitingText(c);
    if (c.typing && c.typing.until < Date.now()) {
      c.typing = null;
      renderTyping(c);
    }
  }
}

ui.history.addEventListener('click', async () => {
  if (!me) return;
  const queues = (me.agent && me.agent.queues) || [];
  if (!historyCursors) historyCursors = Object.fromEntries(queues.map((q) => [q, '']));
  ui.history.disabled = true;
  try {
    for (const q of queues) {
      const cursor = historyCursors[q];
      if (cursor === null) continue;
      const qs = new URLSearchParams({ queue: q, state: 'closed', limit: '20' });
      if (cursor) qs.set('before', cursor);
      const r = await api(`/api/conversations?${qs}`);
      for (const s of r.conversations || []) {
        if (convs.has(s.id)) continue;
        const c = newConv(s);
        c.history = true;
        convs.set(s.id, c);
      }
      historyCursors[q] = r.next || null;
    }
    const more = Object.values(historyCursors).some((v) => v !== null);
    ui.history.textContent = 'Show more closed conversations';
    ui.history.hidden = !more;
    renderList();
  } catch (e) {
    ui.connection.textContent = `Closed conversations could not be loaded: ${e.message}`;
  } finally {
    ui.history.disabled = false;
  }
});

// --- the open conversation -----------------------------------------------------------

function openConversation(id) {
  const c = convs.get(id);
  if (!c) return;
  const previous = openId && convs.get(openId);
  stopTyping();
  openId = id;
  if (previous && previous !== c) ensureSubscription(previous);
  ui.convError.textContent = '';
  ui.noteMode.checked = false;
  ui.message.value = '';
  if (!previous || previous !== c) {
    ui.offerReason.value = '';
    ui.consultNote.value = '';
    ui.partnerError.textContent = '';
  }
  updateComposerMode();
  ensureSubscription(c);
  loadHistory(id);
  if (toastConversation === id) hideToast();
  if (c.synced) markRead(c);
  c.fresh = false;
  renderConversation();
  renderTranscript(c);
  renderList();
  ui.placeholder.hidden = true;
  ui.conversation.hidden = false;
  if (!ui.composer.hidden) ui.message.focus();
}

function closeConversationView() {
  openId = null;
  ui.conversation.hidden = true;
  ui.placeholder.hidden = false;
}

function renderConversation() {
  const c = openId && convs.get(openId);
  if (!c) return;
  const s = c.s;
  const mine = s.agent === myName();
  const live = LIVE.has(s.state);
  const active = live && s.state !== 'waiting' && mine;
  const t = xferOf.get(s.id);
  const transferring = isOpen(t);
  ui.convTitle.textContent = visitorLabel(s);
  const peerOut = t && t.kind === 'peer' && roleIn(t) === 'sender' ? t.destination || partnerName(t.to_peer) : '';
  const stateText = {
    waiting: `Waiting${s.place ? `, number ${s.place} in line` : ''}`,
    active: mine ? 'Active, with you' : `Active, with ${nameOf(s.agent)}`,
    transferring: peerOut
      ? `Being transferred to ${peerOut}`
      : mine ? 'Being transferred' : s.agent ? `With ${nameOf(s.agent)}, being transferred` : 'Being transferred here, the visitor has not arrived yet',
    closed: 'Closed',
    transferred: transferredText(c),
    abandoned: 'Abandoned',
  }[s.state] || s.state;
  ui.convSub.textContent = `${stateText} · ${s.queue || ''}`;
  ui.claim.hidden = s.state !== 'waiting';
  ui.transfer.hidden = !active || transferring;
  ui.close.hidden = !active;
  ui.composer.hidden = !live;
  ui.closedNote.hidden = live;
  ui.closedNote.textContent = s.state === 'closed'
    ? 'This conversation is closed.'
    : s.state === 'transferred'
      ? `${transferredText(c)}. This conversation goes on there.`
      : s.close_reason || `This conversation is ${s.state}.`;
  // A conversation that is not ours takes internal notes only (until we take it);
  // a consultant brought into the conversation talks with the visitor too.
  if (!canMessage(s) && live) {
    ui.noteMode.checked = true;
    ui.noteMode.disabled = true;
  } else if (ui.noteMode.disabled) {
    ui.noteMode.disabled = false;
    ui.noteMode.checked = false;
  }
  updateComposerMode();
  renderDetails(c);
  renderTyping(c);
  renderTransferArea(c);
  renderHistory(c);
}

// "Transferred to Northwind Insurance" / "Sent back to Acme Bank": where a
// conversation in state transferred went.
function transferredText(c) {
  const s = c.s;
  const out = xferOf.get(s.id);
  if (out && out.kind === 'peer' && roleIn(out) === 'sender' && out.state === 'completed') {
    return `Transferred to ${out.destination || partnerName(out.to_peer)}`;
  }
  const inbound = inboundTransfer(c);
  if (inbound && inbound.state === 'recalled') return `Sent back to ${inbound.origin_organization || inbound.to_peer}`;
  if (s.close_reason) return s.close_reason.replace(/\.$/, '');
  return 'Transferred';
}

function canMessage(s) {
  if (!LIVE.has(s.state) || s.state === 'waiting') return false;
  return s.agent === myName() || (s.consultant === myName() && !!s.consultant_joined);
}

function waitingText(c) {
  const s = c.s;
  if (s.state === 'waiting') return `${formatDuration(Date.now() - (s.waiting_since || s.created_at))} (still waiting)`;
  const joined = [...c.events.values()].find((e) => e.kind === 'joined');
  if (joined && s.created_at) return formatDuration(joined.at - s.created_at);
  return '—';
}

function renderDetails(c) {
  const s = c.s;
  const v = s.visitor || {};
  clear(ui.details);
  const row = (term, value, attrs = {}) => {
    ui.details.append(el('dt', { text: term }), el('dd', attrs, value));
  };
  row('Name', v.name || 'Not given');
  if (v.email) row('E-mail', el('a', { href: `mailto:${v.email}`, text: v.email }));
  else row('E-mail', 'Not given');
  if (v.page && /^https?:\/\//i.test(v.page)) {
    row('Page', el('a', { href: v.page, target: '_blank', rel: 'noopener noreferrer', text: v.page }));
  } else {
    row('Page', v.page || 'Unknown');
  }
  row('Browser', el('span', { title: v.browser || '', text: shortBrowser(v.browser) || 'Unknown' }));
  row('Time waiting', waitingText(c), { 'data-waiting': '' });
  row('Started', formatDateTime(s.created_at));
  row('Queue', s.queue || '');
  if (s.offline) row('Left', 'As an offline message');
  if (s.close_reason) row('Ended', s.close_reason);
}

function renderTyping(c) {
  const t = c.typing;
  ui.typing.textContent = t && t.until > Date.now() ? `${t.name} is typing…` : '';
}

function renderTranscript(c) {
  clear(ui.transcript);
  const events = [...c.events.values()].sort((a, b) => a.seq - b.seq);
  for (const e of events) ui.transcript.append(eventNode(e));
  for (const [, p] of c.pending) {
    if (!p.node) p.node = pendingNode(p);
    ui.transcript.append(p.node);
  }
  if (!c.synced) {
    ui.transcript.append(el('p', { class: 'sys loading-line', text: 'Loading the conversation…' }));
  }
  ui.transcript.scrollTop = ui.transcript.scrollHeight;
}

function appendEvent(e, c) {
  const stick = ui.transcript.scrollHeight - ui.transcript.scrollTop - ui.transcript.clientHeight < 80;
  // Our own message may already be on screen, placed there when it was sent.
  if (e.client_id) {
    const existing = [...ui.transcript.querySelectorAll('[data-client-id]')].find((n) => n.dataset.clientId === e.client_id);
    if (existing) {
      existing.classList.remove('pending');
      const st = existing.querySelector('.msg-state');
      if (st) st.remove();
      existing.dataset.seq = String(e.seq);
      return;
    }
  }
  const firstPending = [...c.pending.values()].map((p) => p.node).find((n) => n && n.isConnected);
  ui.transcript.insertBefore(eventNode(e), firstPending || null);
  if (stick) ui.transcript.scrollTop = ui.transcript.scrollHeight;
}

function eventNode(e) {
  const a = e.author || {};
  if (e.kind === 'message' || e.kind === 'note') {
    const mine = a.kind === 'agent';
    // Written at a partner organization before the visitor was transferred here:
    // the author is "Alice (Acme Bank)", of kind system.
    const partner = a.kind === 'system';
    const who = a.name || (a.kind === 'visitor' ? 'Visitor' : a.id || 'Agent');
    const kindClass = e.kind === 'note' ? `note${partner ? ' partner-note' : ''}` : mine ? 'from-agent' : partner ? 'from-agent from-partner' : 'from-visitor';
    const node = el(
      'div',
      {
        class: `msg ${kindClass}`,
        'data-seq': e.seq,
        'data-client-id': e.client_id || null,
      },
      el(
        'p',
        { class: 'msg-meta' },
        e.kind === 'note' ? el('span', { class: 'note-label', text: 'Internal note' }) : null,
        el('span', { class: 'msg-author', text: who }),
        ' ',
        el('time', { text: formatClock(e.at) }),
      ),
      el('p', { class: 'msg-text', text: e.text || '' }),
    );
    return node;
  }
  return el('p', { class: `sys sys-${e.kind}`, 'data-seq': e.seq }, el('span', { text: e.text || e.kind }), ' ', el('time', { text: formatClock(e.at) }));
}

function pendingNode(p) {
  const node = eventNode({
    kind: p.kind,
    author: { kind: 'agent', name: me.agent.display_name },
    text: p.text,
    at: p.at,
    client_id: p.client_id,
  });
  node.classList.add('pending');
  node.append(el('p', { class: 'msg-state', text: 'Sending…' }));
  return node;
}

function updateComposerMode() {
  const note = ui.noteMode.checked;
  ui.composer.classList.toggle('note-mode', note);
  ui.message.placeholder = note ? 'Write an internal note (only agents see it)…' : 'Reply to the visitor…';
}
ui.noteMode.addEventListener('change', () => {
  updateComposerMode();
  stopTyping();
  ui.message.focus();
});

ui.message.addEventListener('keydown', (ev) => {
  if (ev.key === 'Enter' && !ev.shiftKey && !ev.altKey && !ev.ctrlKey && !ev.metaKey && !ev.isComposing) {
    ev.preventDefault();
    ui.composer.requestSubmit();
  }
});

ui.message.addEventListener('input', () => {
  const c = openId && convs.get(openId);
  if (!c || ui.noteMode.checked || !canMessage(c.s)) return;
  if (!typingSent && ui.message.value.trim()) {
    if (rt && rt.send({ type: 'typing', conversation: c.s.id, on: true })) {
      typingSent = true;
      typingFor = c.s.id;
    }
  }
  clearTimeout(typingIdleTimer);
  typingIdleTimer = setTimeout(stopTyping, kTypingIdleMs);
});

function stopTyping() {
  clearTimeout(typingIdleTimer);
  if (typingSent && rt && typingFor) rt.send({ type: 'typing', conversation: typingFor, on: false });
  typingSent = false;
  typingFor = null;
}

ui.composer.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const c = openId && convs.get(openId);
  const text = ui.message.value.trim();
  if (!c || !text) return;
  if (utf8Bytes(text) > kMaxMessageBytes) {
    ui.convError.textContent = 'That message is too long. Please split it into shorter ones.';
    return;
  }
  ui.convError.textContent = '';
  sendEntry(c, ui.noteMode.checked ? 'note' : 'message', text);
  ui.message.value = '';
  stopTyping();
  ui.message.focus();
});

// Shows a message or note as "Sending…" and sends it (now, or after the next sync).
function sendEntry(c, kind, text) {
  const client_id = randomId();
  const p = { client_id, kind, text, at: Date.now(), failed: false, node: null };
  c.pending.set(client_id, p);
  p.node = pendingNode(p);
  ui.transcript.append(p.node);
  ui.transcript.scrollTop = ui.transcript.scrollHeight;
  if (c.synced && rt) rt.send({ type: kind, conversation: c.s.id, client_id, text });
  if (kind === 'note' && !ui.consult.hidden) renderConsultLog(c);
}

ui.claim.addEventListener('click', () => {
  if (!openId || !rt) return;
  if (!rt.send({ type: 'claim', conversation: openId })) ui.convError.textContent = 'Not connected; try again in a moment.';
});

ui.close.addEventListener('click', () => {
  if (!openId || !rt) return;
  stopTyping();
  if (!rt.send({ type: 'close', conversation: openId })) ui.convError.textContent = 'Not connected; try again in a moment.';
});

ui.exportBtn.addEventListener('click', async () => {
  if (!openId) return;
  try {
    await download(`/api/conversations/${encodeURIComponent(openId)}/transcript?format=text`, null, `conversation-${openId}.txt`);
  } catch (e) {
    ui.convError.textContent = `The transcript could not be saved: ${e.message}`;
  }
});

// --- transfer: the dialog ----------------------------------------------------------

function destination(name, value, label, detail, group = 'destination', onChange = updateDialogButtons) {
  const id = `dest-${value.replace(/[^a-z0-9_-]/gi, '_')}`;
  return el(
    'div',
    { class: 'dest-option' },
    el('input', { type: 'radio', name: group, id, value, on: { change: onChange } }),
    el('label', { for: id }, el('span', { text: label }), detail ? el('span', { class: 'muted', text: ` ${detail}` }) : null),
  );
}

// "nobody waiting · 1 agent online": a partner queue's wait figures.
function peerQueueDetail(q) {
  const waiting = q.waiting > 0
    ? `${q.waiting} waiting, longest ${formatDuration(q.longest_wait_ms || 0)}`
    : 'nobody waiting';
  const n = q.agents_online || 0;
  const online = n === 0 ? 'no agent online' : n === 1 ? '1 agent online' : `${n} agents online`;
  return `(${waiting} · ${online})`;
}

function pickedDestination() {
  const picked = ui.dialog.querySelector('input[name=destination]:checked');
  if (!picked) return null;
  const [kind, ...rest] = picked.value.split(':');
  return { kind, name: rest.join(':') };
}

function updateDialogButtons() {
  const d = pickedDestination();
  const agent = !!d && d.kind === 'agent';
  ui.transferConsult.hidden = !agent;
  ui.transferConsultHint.hidden = !agent;
  if (ui.transferResult.dataset.kind === 'pick') setDialogResult('');
}

function setDialogResult(text, kind = '') {
  ui.transferResult.textContent = text;
  ui.transferResult.dataset.kind = kind;
}

ui.transfer.addEventListener('click', () => openTransferDialog(null));

// Opens the Transfer dialog for the open conversation. `peer`: an open transfer
// of it to a partner, to go on with (choose the partner's queue).
function openTransferDialog(peer) {
  if (!me) return;
  for (const fs of [ui.transferAgents, ui.transferQueues, ui.transferPartners, ui.transferPeerQueues]) {
    for (const child of [...fs.children]) if (child.tagName !== 'LEGEND') child.remove();
  }
  ui.transferPeerQueues.hidden = true;
  peerDialog = null;
  const agents = me.agents || [];
  if (agents.length === 0) ui.transferAgents.append(el('p', { class: 'muted', text: 'No other agents.' }));
  for (const a of agents) ui.transferAgents.append(destination('agent', `agent:${a.name}`, a.display_name || a.name, ''));
  const queues = me.queues || [];
  for (const q of queues) {
    const info = queueInfo.find((x) => x.name === q);
    let detail = '';
    if (info) {
      detail = info.waiting ? `(${info.waiting} waiting` : '(nobody waiting';
      detail += info.online ? ')' : ', no agent online)';
    }
    ui.transferQueues.append(destination('queue', `queue:${q}`, q, detail));
  }
  // Partners: picking one sends the offer at once (its own radio group, so that
  // arrowing through colleagues and queues never reaches it by accident).
  const partners = me.partners || [];
  if (partners.length === 0) {
    ui.transferPartners.append(el('p', { class: 'muted', text: 'No partner organizations are set up on this server.' }));
  }
  for (const p of partners) {
    ui.transferPartners.append(destination('partner', `partner:${p.name}`, p.display_name || p.name, '', 'partner', onPartnerPicked));
  }
  if (!peer) ui.transferNote.value = '';
  setDialogResult('');
  endDialogRequest();
  if (peer) {
    const radio = [...ui.transferPartners.querySelectorAll('input[name=partner]')].find((r) => r.value === `partner:${peer.to_peer}`);
    if (radio) radio.checked = true;
    peerDialog = { conversation: peer.conversation, partner: peer.to_peer, display: peer.destination || partnerName(peer.to_peer) };
  }
  updateDialogButtons();
  renderPeerDialog();
  ui.dialog.showModal();
  const first = peer
    ? ui.transferPeerQueues.querySelector('input[type=radio]') || ui.transferNote
    : ui.dialog.querySelector('input[type=radio]');
  if (first) first.focus();
}

function partnerName(name) {
  const p = me && (me.partners || []).find((x) => x.name === name);
  return p ? p.display_name || p.name : name;
}

// A partner was picked: ask it (the offer). Its queues come back in a transfer event.
function onPartnerPicked(ev) {
  const radio = ev.target;
  if (!radio.checked || peerDialog || !openId) return;
  const name = radio.value.slice('partner:'.length);
  for (const r of ui.dialog.querySelectorAll('input[name=destination]')) r.checked = false;
  updateDialogButtons();
  const before = xferOf.get(openId);
  peerDialog = { conversation: openId, partner: name, display: partnerName(name), staleId: before ? before.id : '' };
  if (!sendFromDialog({ type: 'transfer', conversation: openId, to: { peer: name } })) {
    peerDialog = null;
    radio.checked = false;
    return;
  }
  renderPeerDialog();
}

// The open transfer to the partner picked in the dialog, if any.
function peerTransfer() {
  if (!peerDialog) return null;
  const t = xferOf.get(peerDialog.conversation);
  if (!t || t.id === peerDialog.staleId) return null;
  return t.kind === 'peer' && t.to_peer === peerDialog.partner && roleIn(t) === 'sender' ? t : null;
}

// The dialog while transferring to a partner: asking, then the partner's queues.
function renderPeerDialog() {
  const locked = !!peerDialog;
  for (const r of ui.dialog.querySelectorAll('input[name=destination], input[name=partner]')) r.disabled = locked;
  if (!peerDialog) {
    ui.transferPeerQueues.hidden = true;
    return;
  }
  const t = peerTransfer();
  const who = peerDialog.display;
  if (t && !isOpen(t)) {
    // Refused, unreachable, or over: say why; the dialog is free again.
    const reason = t.reason || `${who} could not take the visitor.`;
    peerDialog = null;
    endDialogRequest();
    for (const r of ui.dialog.querySelectorAll('input[name=partner]')) r.checked = false;
    renderPeerDialog();
    setDialogResult(`${reason} The conversation stays with you.`);
    return;
  }
  const queues = t && isOpen(t) && t.state === 'offering' && Array.isArray(t.queues) ? t.queues : [];
  ui.transferPeerQueuesTitle.textContent = `Queues at ${who}`;
  if (!queues.length) {
    ui.transferPeerQueues.hidden = true;
    setDialogResult(`Asking ${who} which of its queues can take this visitor…`, 'peer');
    return;
  }
  const picked = ui.transferPeerQueues.querySelector('input[name=peer-queue]:checked');
  const pickedValue = picked ? picked.value : '';
  const shown = [...ui.transferPeerQueues.querySelectorAll('input[name=peer-queue]')].map((r) => r.value).join('|');
  if (shown !== queues.map((q) => `peer-queue:${q.name}`).join('|') || ui.transferPeerQueues.dataset.id !== t.id) {
    for (const child of [...ui.transferPeerQueues.children]) if (child.tagName !== 'LEGEND') child.remove();
    for (const q of queues) {
      ui.transferPeerQueues.append(destination('peer-queue', `peer-queue:${q.name}`, q.display_name || q.name, peerQueueDetail(q), 'peer-queue', () => {
        if (ui.transferResult.dataset.kind === 'pick') setDialogResult('');
      }));
    }
    if (pickedValue) {
      const again = [...ui.transferPeerQueues.querySelectorAll('input[name=peer-queue]')].find((r) => r.value === pickedValue);
      if (again) again.checked = true;
    }
    ui.transferPeerQueues.dataset.id = t.id;
  }
  const wasHidden = ui.transferPeerQueues.hidden;
  ui.transferPeerQueues.hidden = false;
  if (ui.transferResult.dataset.kind === 'peer' || !ui.transferResult.textContent) {
    setDialogResult(`${who} can take this visitor. Pick one of its queues, add a note for their agent, and press Transfer.`, 'peer-ready');
  }
  if (wasHidden && ui.dialog.open && document.activeElement && document.activeElement.name === 'partner') {
    const first = ui.transferPeerQueues.querySelector('input[type=radio]');
    if (first) first.focus();
  }
}

ui.transferCancel.addEventListener('click', () => {
  endDialogRequest();
  ui.dialog.close();
});
ui.dialog.addEventListener('close', () => {
  endDialogRequest();
  peerDialog = null;
});

ui.transferForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  if (peerDialog) {
    const t = peerTransfer();
    const q = ui.transferPeerQueues.querySelector('input[name=peer-queue]:checked');
    if (!t || !isOpen(t) || ui.transferPeerQueues.hidden) {
      setDialogResult(`Still waiting for ${peerDialog.display} to answer…`, 'peer');
      return;
    }
    if (!q) {
      setDialogResult(`Pick a queue at ${peerDialog.display}.`, 'pick');
      return;
    }
    const note = ui.transferNote.value.trim();
    sendFromDialog({ type: 'transfer.confirm', transfer: t.id, queue: q.value.slice('peer-queue:'.length), note }, t.conversation);
    return;
  }
  const d = pickedDestination();
  if (!d) {
    setDialogResult('Pick where the conversation should go.', 'pick');
    return;
  }
  const note = ui.transferNote.value.trim();
  const to = d.kind === 'agent' ? { agent: d.name } : { queue: d.name };
  sendFromDialog({ type: 'transfer', conversation: openId, to, note });
});

ui.transferConsult.addEventListener('click', () => {
  const d = pickedDestination();
  if (!d || d.kind !== 'agent') return;
  sendFromDialog({ type: 'consult', conversation: openId, agent: d.name, note: ui.transferNote.value.trim() });
});

// Sends a request of the dialog and waits for its answer. Returns whether it went out.
function sendFromDialog(msg, conversation = msg.conversation) {
  if (dialogRequest || !conversation) return false;
  if (msg.note && utf8Bytes(msg.note) > kMaxMessageBytes) {
    setDialogResult('The note is too long. Please shorten it.');
    return false;
  }
  if (!rt || !rt.send(msg)) {
    setDialogResult('Not connected; try again in a moment.');
    return false;
  }
  const peer = msg.type === 'transfer.confirm' ? peerDialog && peerDialog.display : '';
  setDialogResult(msg.type === 'consult' ? 'Asking for a consultation…' : peer ? `Sending the conversation to ${peer}…` : 'Transferring…');
  ui.transferConfirm.disabled = true;
  ui.transferConsult.disabled = true;
  dialogRequest = {
    type: msg.type,
    conversation,
    timer: setTimeout(() => {
      endDialogRequest();
      setDialogResult('The server did not answer. The conversation stays with you; try again.');
    }, kDialogAnswerMs),
  };
  return true;
}

function endDialogRequest() {
  if (dialogRequest) clearTimeout(dialogRequest.timer);
  dialogRequest = null;
  ui.transferConfirm.disabled = false;
  ui.transferConsult.disabled = false;
}

// --- transfer: state --------------------------------------------------------------

function nameOf(agent) {
  if (!agent) return '';
  if (me && me.agent && me.agent.name === agent) return me.agent.display_name || agent;
  const a = me && (me.agents || []).find((x) => x.name === agent);
  return a ? a.display_name || a.name : agent;
}

function isOpen(t) {
  return !!t && OPEN_TRANSFER.has(t.state);
}

// 'sender', 'target' or null: what this agent is in transfer `t`.
function roleIn(t) {
  if (!t || !me) return null;
  if (t.from_agent === myName()) return 'sender';
  if (t.to_agent === myName()) return 'target';
  return null;
}

// Offered to me, or consulting me, right now.
function involvesMe(id) {
  const t = xferOf.get(id);
  return isOpen(t) && roleIn(t) === 'target';
}

function timeLeft(deadline) {
  const ms = deadline - Date.now();
  if (ms <= 0) return 'time is up';
  if (ms < 60_000) return `${Math.ceil(ms / 1000)} s left`;
  return `${formatDuration(ms)} left`;
}

function mergeHistory(t) {
  let h = historyOf.get(t.conversation);
  if (!h) historyOf.set(t.conversation, (h = new Map()));
  const old = h.get(t.id);
  if (!old || (t.updated_at || 0) >= (old.updated_at || 0)) h.set(t.id, t);
}

// Records a transfer. `live`: it just happened (its deadline is counted from now,
// on this clock). Returns {t, prev, changed}.
function remember(raw, live) {
  const prev = xferOf.get(raw.conversation) || null;
  mergeHistory(raw);
  if (prev && prev.id === raw.id) {
    if ((prev.updated_at || 0) > (raw.updated_at || 0)) return { t: prev, prev, changed: false };
    if (prev.updated_at === raw.updated_at && prev.state === raw.state) return { t: prev, prev, changed: false };
  } else if (prev && (prev.created_at || 0) > (raw.created_at || 0)) {
    return { t: prev, prev, changed: false }; // an older one: history only
  }
  const t = { ...raw };
  t.localDeadline = t.deadline ? (live ? Date.now() + Math.max(0, t.deadline - t.updated_at) : t.deadline) : 0;
  t.seen = false;
  t.busy = false;
  xferOf.set(t.conversation, t);
  return { t, prev, changed: true };
}

function onTransfer(msg) {
  const raw = msg.transfer;
  if (!raw || !raw.id || !raw.conversation) return;
  // A transfer received from a partner: news of a conversation of mine (its visitor
  // being sent back, sent back, or kept here after the partner refused).
  if (raw.kind === 'peer' && raw.direction === 'in') {
    const before = (historyOf.get(raw.conversation) || new Map()).get(raw.id);
    mergeHistory(raw);
    if (msg.conversation) upsert(msg.conversation, true);
    const c = convs.get(raw.conversation);
    const settled = before && before.step === 'recalling' && raw.step !== 'recalling';
    if (raw.conversation === openId) renderConversation();
    else if (settled) {
      const who = c ? visitorLabel(c.s) : 'The visitor';
      const org = raw.origin_organization || raw.to_peer;
      showToast(raw.state === 'recalled' ? `${who} was sent back to ${org}.` : raw.reason || `${org} did not take ${who} back.`,
        c ? raw.conversation : null);
    }
    if (c) renderList();
    return;
  }
  if (!roleIn(raw)) return;
  const { t, prev, changed } = remember(raw, true);
  if (msg.conversation) upsert(msg.conversation, true);
  if (!changed) return;
  const c = convs.get(t.conversation);
  const fresh = !prev || prev.id !== t.id;
  if (c && roleIn(t) === 'target' && fresh && isOpen(t)) {
    if (t.conversation !== openId) arrived(c);
    else chime();
  }
  if (t.conversation !== openId) {
    const text = news(t, c);
    if (text) showToast(text, c && convs.has(t.conversation) ? t.conversation : null);
  }
  if (c) {
    ensureSubscription(c);
    renderList();
  }
  if (t.conversation === openId) renderConversation();
  if (ui.dialog.open && peerDialog && peerDialog.conversation === t.conversation) renderPeerDialog();
}

function onTransferReply(msg) {
  if (msg.in_reply_to === 'transfer.return') {
    onReturnReply(msg);
    return;
  }
  const action = actions.get(msg.in_reply_to);
  actions.delete(msg.in_reply_to);
  const toPartner = msg.in_reply_to === 'transfer' && msg.transfer.kind === 'peer';
  if (dialogRequest && (msg.in_reply_to === 'transfer' || msg.in_reply_to === 'consult' || msg.in_reply_to === 'transfer.confirm')) {
    endDialogRequest();
    // An offer to a partner keeps the dialog open: its queues are picked there next.
    if (!toPartner) {
      if (ui.dialog.open) ui.dialog.close();
      if (!ui.composer.hidden) ui.message.focus();
    }
  }
  const t = xferOf.get(msg.transfer.conversation);
  if (t && t.id === msg.transfer.id) t.busy = false;
  onTransfer({ transfer: msg.transfer });
  if (action && action.conversation === openId) {
    const c = convs.get(openId);
    if (c) renderConversation();
    // The button pressed may be gone now (an accepted offer, a finished consult).
    const a = document.activeElement;
    if ((!a || a === document.body || a.closest('[hidden]') || a.disabled) && !ui.composer.hidden) ui.message.focus();
  }
}

const TRANSFER_REPLIES = new Set([
  'transfer', 'consult', 'transfer.accept', 'transfer.decline', 'transfer.cancel', 'consult.join', 'consult.finish',
  'transfer.confirm', 'transfer.return',
]);

// An error answering a transfer request: shown where the request was made.
function onTransferError(msg) {
  if (!TRANSFER_REPLIES.has(msg.in_reply_to)) return false;
  const text = msg.message || 'The server refused.';
  if (msg.in_reply_to === 'transfer.return') {
    onReturnError(msg, text);
    return true;
  }
  if (msg.in_reply_to === 'transfer' || msg.in_reply_to === 'consult' || msg.in_reply_to === 'transfer.confirm') {
    if (dialogRequest && ui.dialog.open) {
      endDialogRequest();
      if (msg.in_reply_to === 'transfer' && peerDialog) {
        // The offer did not go out: the partner can be picked again.
        peerDialog = null;
        for (const r of ui.dialog.querySelectorAll('input[name=partner]')) r.checked = false;
        renderPeerDialog();
      }
      setDialogResult(`${text.charAt(0).toUpperCase()}${text.slice(1)}. The conversation stays with you.`);
    } else {
      ui.convError.textContent = text;
    }
    return true;
  }
  const action = actions.get(msg.in_reply_to);
  actions.delete(msg.in_reply_to);
  const id = action ? action.conversation : null;
  const t = id ? xferOf.get(id) : null;
  if (t) t.busy = false;
  if (id && id === openId) {
    const where = msg.in_reply_to.startsWith('consult') ? ui.consultError : msg.in_reply_to === 'transfer.cancel' ? ui.convError : ui.offerError;
    where.textContent = `${text.charAt(0).toUpperCase()}${text.slice(1)}.`;
    renderConversation();
  } else {
    showToast(text, null);
  }
  return true;
}

// Sends an answer about transfer `t` ({type: 'transfer.accept', ...}).
function act(type, t, extra = {}) {
  if (!t || t.busy) return;
  ui.offerError.textContent = '';
  ui.consultError.textContent = '';
  if (!rt || !rt.send({ type, transfer: t.id, ...extra })) {
    const text = 'Not connected; try again in a moment.';
    if (type.startsWith('consult')) ui.consultError.textContent = text;
    else ui.offerError.textContent = text;
    return;
  }
  t.busy = true;
  actions.set(type, { conversation: t.conversation, transfer: t.id });
  renderConversation();
}

// What happened to transfer `t`, told to this agent, in words.
function news(t, c) {
  const who = c ? visitorLabel(c.s) : 'a visitor';
  const from = nameOf(t.from_agent);
  const to = t.to_agent ? nameOf(t.to_agent) : '';
  if (roleIn(t) === 'target') {
    if (t.kind === 'consult') {
      return {
        consulting: `${from} asks for your help with the conversation with ${who}.`,
        joined: `${from} brought you into the conversation with ${who}.`,
        completed: `${from} handed the conversation with ${who} over to you.`,
        cancelled: `${from} ended the consultation about ${who}.`,
        expired: `The consultation about ${who} ended after its time limit.`,
      }[t.state] || '';
    }
    return {
      offered: `${from} offers you the conversation with ${who}${t.note ? `: “${t.note}”` : '.'}`,
      cancelled: `${from} called off the transfer of ${who}.`,
      expired: `The transfer of ${who} from ${from} was not answered in time; it stays with ${from}.`,
    }[t.state] || '';
  }
  if (t.kind === 'queue') return t.state === 'accepted' ? `${who} is waiting in the ${t.to_queue} queue now.` : '';
  if (t.kind === 'peer') {
    const dest = t.destination || partnerName(t.to_peer);
    if (choosingQueue(t)) return `${dest} can take ${who}: choose one of its queues.`;
    return {
      completed: `${who} was transferred to ${dest}.`,
      failed: `${t.reason || `The transfer to ${dest} failed.`} ${who} stays with you.`,
      expired: `${t.reason || `${who} did not arrive at ${dest}.`} ${who} stays with you.`,
      cancelled: `${t.reason || `The transfer to ${dest} was called off.`} ${who} stays with you.`,
      recalled: `${dest} sent ${who} back.`,
    }[t.state] || '';
  }
  if (t.kind === 'consult') {
    return {
      declined: `${to} left the consultation about ${who}.`,
      expired: `The consultation about ${who} ended after its time limit.`,
      completed: `${to} has the conversation with ${who} now.`,
    }[t.state] || '';
  }
  return {
    accepted: `${to} accepted the conversation with ${who}.`,
    declined: `${t.reason || `${to} declined.`} The conversation with ${who} stays with you.`,
    expired: `${t.reason || `${to} did not answer in time.`} The conversation with ${who} stays with you.`,
  }[t.state] || '';
}

// A transfer tag for the list item of conversation `id`.
function transferTag(id) {
  const t = xferOf.get(id);
  const role = roleIn(t);
  if (!role) return null;
  const deadlineTag = (label, cls) => el('span', {
    class: `tag ${cls}`,
    'data-deadline': t.localDeadline || null,
    'data-label': t.localDeadline ? label : null,
    text: t.localDeadline ? `${label} · ${timeLeft(t.localDeadline)}` : label,
  });
  if (isOpen(t) && t.kind === 'peer') {
    const dest = t.destination || partnerName(t.to_peer);
    return choosingQueue(t)
      ? deadlineTag(`${dest} answered: choose a queue`, 'tag-offer')
      : el('span', { class: 'tag tag-transfer', text: `Transferring to ${dest}` });
  }
  if (isOpen(t)) {
    if (t.kind === 'consult') {
      return el('span', { class: 'tag tag-consult', text: role === 'sender' ? `Consulting ${nameOf(t.to_agent)}` : `Consultation with ${nameOf(t.from_agent)}` });
    }
    if (role === 'target') return deadlineTag(`Transfer request from ${nameOf(t.from_agent)}`, 'tag-offer');
    return deadlineTag(`Offered to ${nameOf(t.to_agent)}`, 'tag-transfer');
  }
  if (role === 'sender' && !t.seen && t.kind === 'peer' && (t.state === 'failed' || t.state === 'expired' || t.state === 'cancelled')) {
    return el('span', { class: 'tag tag-alert', text: 'Transfer failed' });
  }
  if (role === 'sender' && !t.seen && (t.state === 'declined' || t.state === 'expired') && t.kind === 'agent') {
    return el('span', { class: 'tag tag-alert', text: t.state === 'declined' ? 'Transfer declined' : 'Transfer not answered' });
  }
  return null;
}

// --- transfer: the open conversation ------------------------------------------------------

// Which transfer panel the open conversation shows: the offer to answer, the
// consultation, the state of a transfer (sent, or ended), or the note that came
// with a conversation transferred to this agent.
function renderTransferArea(c) {
  const s = c.s;
  const t = xferOf.get(s.id) || null;
  const role = roleIn(t);
  const showOffer = !!t && role === 'target' && t.kind === 'agent' && t.state === 'offered';
  const showConsult = !!t && !!role && t.kind === 'consult' && isOpen(t);
  const showBar = !!t && !!role && !showOffer && !showConsult && !t.seen && !!barText(t, s);
  ui.offer.hidden = !showOffer;
  ui.consult.hidden = !showConsult;
  ui.xfer.hidden = !showBar;
  if (showOffer) renderOffer(t);
  else ui.offerError.textContent = '';
  if (showConsult) renderConsult(c, t);
  else ui.consultError.textContent = '';
  if (showBar) renderBar(t, s);
  const received = !showOffer && !showConsult ? receivedTransfer(c) : null;
  ui.handover.hidden = !received;
  if (received) renderHandover(received);
  renderPartner(c);
  renderCountdowns(c);
}

// --- transfer: received from a partner organization -------------------------------------

// The record of the transfer that brought this conversation from a partner.
function inboundTransfer(c) {
  const h = historyOf.get(c.s.id);
  if (!h) return null;
  const list = [...h.values()].filter((t) => t.kind === 'peer' && t.direction === 'in').sort((a, b) => a.created_at - b.created_at);
  return list[list.length - 1] || null;
}

function renderPartner(c) {
  const t = inboundTransfer(c);
  ui.partner.hidden = !t;
  if (!t) {
    ui.partnerError.textContent = '';
    return;
  }
  const s = c.s;
  const org = t.origin_organization || t.to_peer || 'a partner organization';
  const from = t.from_agent || 'An agent';
  const queue = t.to_queue ? `the ${t.to_queue} queue` : 'this organization';
  ui.partnerTitle.textContent = `Transferred from ${org}`;
  let text;
  if (t.state === 'recalled') text = `Sent back to ${org}. The visitor is with ${org} again.`;
  else if (t.state === 'moving') text = `${from} at ${org} is transferring this visitor to ${queue}; the visitor has not arrived yet.`;
  else if (t.state === 'completed' && t.step === 'recalling') text = `Sending this visitor back to ${org}; the visitor stays here until ${org} takes it.`;
  else if (t.state === 'completed') text = `${from} at ${org} transferred this visitor to ${queue}. The conversation so far, at ${org}, is in the transcript below.${t.reason ? ` ${t.reason}` : ''}`;
  else text = `${from} at ${org} tried to transfer this visitor to ${queue}. ${t.reason || ''}`.trim();
  if (ui.partnerText.textContent !== text) ui.partnerText.textContent = text;
  if (ui.partnerNote.dataset.id !== t.id) {
    clear(ui.partnerNote);
    ui.partnerNote.append(
      t.note
        ? el(
          'figure',
          { class: 'handover-note partner-note-figure', 'aria-labelledby': `pnote-${t.id}` },
          el('figcaption', { id: `pnote-${t.id}`, text: `Note from ${from} at ${org}` }),
          el('blockquote', { text: t.note }),
        )
        : el('p', { class: 'muted', text: `${from} left no note.` }),
    );
    ui.partnerNote.dataset.id = t.id;
  }
  ui.partnerReturn.textContent = `Send back to ${org}`;
  ui.partnerReturn.hidden = !(t.state === 'completed' && t.step !== 'recalling' && LIVE.has(s.state));
  ui.partnerReturn.disabled = returning.has(s.id);
}

ui.partnerReturn.addEventListener('click', () => {
  const c = openId && convs.get(openId);
  if (!c || returning.has(c.s.id)) return;
  ui.partnerError.textContent = '';
  if (!rt || !rt.send({ type: 'transfer.return', conversation: c.s.id })) {
    ui.partnerError.textContent = 'Not connected; try again in a moment.';
    return;
  }
  returning.add(c.s.id);
  actions.set('transfer.return', { conversation: c.s.id });
  renderConversation();
});

function onReturnReply(msg) {
  const action = actions.get('transfer.return');
  actions.delete('transfer.return');
  const t = msg.transfer;
  const id = (t && t.conversation) || (action && action.conversation);
  if (id) returning.delete(id);
  if (t && t.conversation) mergeHistory(t);
  if (id && id === openId) {
    renderConversation();
    if (!ui.composer.hidden) ui.message.focus();
  } else if (t && t.conversation) {
    const c = convs.get(t.conversation);
    showToast(`${c ? visitorLabel(c.s) : 'The visitor'} is being sent back to ${t.origin_organization || 'the partner'}.`, null);
  }
}

function onReturnError(msg, text) {
  const action = actions.get('transfer.return');
  actions.delete('transfer.return');
  const id = action ? action.conversation : msg.conversation;
  if (id) returning.delete(id);
  const line = `${text.charAt(0).toUpperCase()}${text.slice(1)}.`.replace(/\.\.$/, '.');
  if (id && id === openId) {
    ui.partnerError.textContent = `${line} The conversation stays with you.`;
    renderConversation();
  } else {
    showToast(line, null);
  }
}

function noteFigure(t) {
  const from = nameOf(t.from_agent);
  if (!t.note) return t.kind === 'consult' ? null : el('p', { class: 'muted', text: `${from} left no note.` });
  return el(
    'figure',
    { class: 'handover-note', 'aria-labelledby': `note-${t.id}` },
    el('figcaption', { id: `note-${t.id}`, text: `Note from ${from}` }),
    el('blockquote', { text: t.note }),
  );
}

function renderOffer(t) {
  const from = nameOf(t.from_agent);
  ui.offerText.textContent = `${from} asks you to take over this conversation. The transcript is below; the visitor does not know yet.`;
  if (ui.offerNote.dataset.id !== t.id) {
    clear(ui.offerNote);
    ui.offerNote.append(noteFigure(t));
    ui.offerNote.dataset.id = t.id;
  }
  ui.offerAccept.disabled = t.busy;
  ui.offerDecline.disabled = t.busy;
}

// Where a transfer to a partner stands, told to the agent who sent it.
function peerText(t) {
  const dest = t.destination || partnerName(t.to_peer);
  const queue = t.to_queue ? ` (${t.to_queue})` : '';
  switch (t.state) {
    case 'offering':
      if (t.to_queue) return `Sending the conversation to ${dest}${queue}…`;
      if (Array.isArray(t.queues) && t.queues.length) return `${dest} can take this visitor. Choose one of its queues to go on.`;
      return `Asking ${dest}…`;
    case 'moving':
      return `Moving the visitor to ${dest}…`;
    case 'completed':
      return `Transferred to ${dest}${queue}. The visitor is with ${dest} now.`;
    case 'recalled':
      return `${t.reason || `${dest} sent the visitor back.`}`;
    case 'failed':
    case 'expired':
    case 'cancelled':
      return `${t.reason || `The transfer to ${dest} did not go through.`} The conversation stays with you.`;
    default:
      return '';
  }
}

// A transfer to a partner waiting for this agent to choose the partner's queue.
function choosingQueue(t) {
  return !!t && t.kind === 'peer' && t.state === 'offering' && !t.to_queue && Array.isArray(t.queues) && t.queues.length > 0;
}

function barText(t, s) {
  const role = roleIn(t);
  const to = t.to_agent ? nameOf(t.to_agent) : '';
  const from = nameOf(t.from_agent);
  if (role === 'sender' && t.kind === 'peer') return peerText(t);
  if (role === 'sender') {
    if (t.kind === 'queue') return t.state === 'accepted' ? `Passed to the ${t.to_queue} queue. ${t.note ? 'Your note goes with it.' : ''}`.trim() : '';
    if (t.kind === 'consult') {
      return {
        completed: `You handed the conversation over to ${to}.`,
        cancelled: `You ended the consultation with ${to}.`,
        declined: `${to} left the consultation. The conversation stays with you.`,
        expired: `The consultation with ${to} ended after its time limit.`,
      }[t.state] || '';
    }
    return {
      offered: `Offered to ${to}. Waiting for ${to} to answer…`,
      accepted: `${to} accepted. The conversation is with ${to} now.`,
      declined: `${t.reason || `${to} declined.`} The conversation stays with you.`,
      expired: `${t.reason || `${to} did not answer in time.`} The conversation stays with you.`,
      cancelled: `You called the transfer off. The conversation stays with you.`,
    }[t.state] || '';
  }
  if (t.kind === 'consult') {
    return {
      cancelled: `${from} ended the consultation.`,
      declined: 'You left the consultation.',
      expired: 'The consultation ended after its time limit.',
    }[t.state] || '';
  }
  return {
    declined: `You declined. The conversation stays with ${from}.`,
    expired: `You did not answer in time. The conversation stays with ${from}.`,
    cancelled: `${from} called the transfer off.`,
  }[t.state] || '';
}

function renderBar(t, s) {
  const text = barText(t, s);
  if (ui.xferText.textContent !== text) ui.xferText.textContent = text;
  const offered = roleIn(t) === 'sender' && t.state === 'offered';
  ui.xfer.className = `xfer xfer-${t.state}`;
  ui.xferCancel.hidden = !offered;
  ui.xferCancel.disabled = t.busy;
  ui.xferChoose.hidden = !(roleIn(t) === 'sender' && choosingQueue(t));
  ui.xferDismiss.hidden = offered || (t.kind === 'peer' && isOpen(t));
}

function renderConsult(c, t) {
  const role = roleIn(t);
  const other = nameOf(role === 'sender' ? t.to_agent : t.from_agent);
  const joined = t.state === 'joined';
  ui.consultTitle.textContent = `Consultation with ${other}`;
  let text;
  if (role === 'sender') {
    text = joined
      ? `${other} is in the conversation: the visitor sees you both. Hand over and leave, or end the consultation to stay alone with the visitor.`
      : `Only you and ${other} see these notes; the visitor does not. Bring ${other} into the conversation when ready.`;
  } else {
    text = joined
      ? `${other} brought you into the conversation: the visitor sees your messages.`
      : `${other} asks for your help. Only you and ${other} see these notes; the visitor does not.`;
  }
  if (ui.consultText.textContent !== text) ui.consultText.textContent = text;
  ui.consultNoteLabel.textContent = `Note to ${other}`;
  ui.consultJoin.hidden = role !== 'sender' || joined;
  ui.consultHandover.hidden = role !== 'sender';
  ui.consultEnd.hidden = role !== 'sender';
  ui.consultLeave.hidden = role !== 'target';
  for (const b of [ui.consultJoin, ui.consultHandover, ui.consultEnd, ui.consultLeave]) b.disabled = t.busy;
  renderConsultLog(c);
}

function renderConsultLog(c) {
  const t = xferOf.get(c.s.id);
  if (!t || t.kind !== 'consult') return;
  const since = t.created_at || 0;
  const notes = [...c.events.values()].filter((e) => e.kind === 'note' && e.at >= since).sort((a, b) => a.seq - b.seq);
  const pending = [...c.pending.values()].filter((p) => p.kind === 'note');
  const stick = ui.consultLog.scrollHeight - ui.consultLog.scrollTop - ui.consultLog.clientHeight < 40;
  clear(ui.consultLog);
  for (const e of notes) ui.consultLog.append(consultLine(e.author && e.author.name, e.text, e.at, false));
  for (const p of pending) ui.consultLog.append(consultLine(me.agent.display_name, p.text, p.at, true));
  if (!notes.length && !pending.length) ui.consultLog.append(el('p', { class: 'muted', text: 'No notes yet.' }));
  if (stick) ui.consultLog.scrollTop = ui.consultLog.scrollHeight;
}

function consultLine(who, text, at, pending) {
  return el(
    'p',
    { class: `consult-line${pending ? ' pending' : ''}` },
    el('span', { class: 'msg-author', text: who || 'Agent' }),
    ' ',
    el('time', { text: formatClock(at) }),
    el('span', { class: 'consult-text-line', text: text || '' }),
  );
}

// The transfer that made this conversation this agent's: the latest accepted
// transfer to me or to a queue, or a consultation handed over to me.
function receivedTransfer(c) {
  const s = c.s;
  if (s.agent !== myName() || !LIVE.has(s.state)) return null;
  const h = historyOf.get(s.id);
  if (!h) return null;
  const list = [...h.values()].filter((t) => t.state === 'accepted' || t.state === 'completed').sort((a, b) => a.updated_at - b.updated_at);
  const t = list[list.length - 1];
  if (!t || t.from_agent === myName()) return null;
  if (t.kind !== 'queue' && t.to_agent !== myName()) return null;
  if (c.handoverSeen === t.id) return null;
  return t;
}

function renderHandover(t) {
  const from = nameOf(t.from_agent);
  ui.handoverText.textContent = t.kind === 'queue'
    ? `${from} passed this conversation to the ${t.to_queue} queue, and it came to you.`
    : t.kind === 'consult'
      ? `${from} handed this conversation over to you.`
      : `${from} transferred this conversation to you.`;
  if (ui.handoverNote.dataset.id !== t.id) {
    clear(ui.handoverNote);
    const note = noteFigure(t);
    if (note) ui.handoverNote.append(note);
    ui.handoverNote.dataset.id = t.id;
  }
}

function renderCountdowns(c) {
  const t = xferOf.get(c.s.id);
  // A transfer to a partner counts down only while the agent is to choose a queue.
  const counts = t && t.localDeadline && isOpen(t) && (t.kind !== 'peer' || choosingQueue(t));
  const text = (shown) => (shown && counts ? timeLeft(t.localDeadline) : '');
  const offer = text(!ui.offer.hidden);
  if (ui.offerTime.textContent !== offer) ui.offerTime.textContent = offer;
  const bar = text(!ui.xfer.hidden);
  if (ui.xferTime.textContent !== bar) ui.xferTime.textContent = bar;
  const consult = !ui.consult.hidden && t && t.localDeadline ? `Time limit: ${timeLeft(t.localDeadline)}` : '';
  if (ui.consultTime.textContent !== consult) ui.consultTime.textContent = consult;
}

function renderHistory(c) {
  const h = historyOf.get(c.s.id);
  const list = h ? [...h.values()].sort((a, b) => a.created_at - b.created_at || (a.id < b.id ? -1 : 1)) : [];
  clear(ui.transferHistory);
  for (const t of list) {
    const from = nameOf(t.from_agent);
    const what = {
      agent: `${from} to ${nameOf(t.to_agent)}`,
      queue: `${from} to the ${t.to_queue} queue`,
      consult: `${from} consulted ${nameOf(t.to_agent)}`,
      peer: t.direction === 'in'
        ? `${t.from_agent} at ${t.origin_organization || t.to_peer} to ${t.to_queue ? `the ${t.to_queue} queue` : 'us'}`
        : `${from} to ${t.destination || partnerName(t.to_peer)}${t.to_queue ? ` (${t.to_queue})` : ''}`,
    }[t.kind] || `${from}: ${t.kind}`;
    const peerState = t.kind === 'peer' ? {
      offering: 'Asking the partner',
      moving: 'Moving the visitor',
      completed: t.direction === 'in' ? 'Arrived' : 'Transferred',
      failed: 'Failed',
      expired: 'The visitor did not arrive',
      cancelled: 'Called off',
      recalled: 'Sent back',
    }[t.state] : null;
    const state = peerState || {
      offered: 'Offered, waiting for an answer',
      accepted: 'Accepted',
      declined: 'Declined',
      expired: 'Not answered in time',
      cancelled: 'Called off',
      consulting: 'Consulting',
      joined: 'Three-way',
      completed: 'Handed over',
    }[t.state] || t.state;
    ui.transferHistory.append(
      el(
        'li',
        { class: `th th-${t.state}` },
        el('p', { class: 'th-top' }, el('span', { class: 'th-what', text: what }), ' ', el('time', { text: formatClock(t.created_at) })),
        el('p', { class: 'th-state' }, el('span', { class: 'th-tag', text: state }), t.reason ? ` ${t.reason}` : ''),
        t.note ? el('p', { class: 'th-note', text: `Note: ${t.note}` }) : null,
      ),
    );
  }
  ui.transferHistoryEmpty.hidden = list.length > 0;
}

// Fetches the conversation's transfer history; restores a transfer under way
// (after a reload) from it.
async function loadHistory(id) {
  clearTimeout(historyTimers.get(id));
  historyTimers.delete(id);
  let r;
  try {
    r = await api(`/api/conversations/${encodeURIComponent(id)}/transfers`);
  } catch {
    return; // not readable any more, or offline: what came live stays
  }
  const list = (r && r.transfers) || [];
  for (const t of list) mergeHistory(t);
  const last = list[list.length - 1];
  if (last && isOpen(last) && roleIn(last)) {
    const { changed } = remember(last, false);
    const c = convs.get(id);
    if (changed && c) {
      ensureSubscription(c);
      renderList();
    }
  }
  const c = convs.get(id);
  if (c) renderListItem(c);
  if (c && id === openId) renderConversation();
}

function scheduleHistory(id) {
  clearTimeout(historyTimers.get(id));
  historyTimers.set(id, setTimeout(() => loadHistory(id), 300));
}

ui.offerAccept.addEventListener('click', () => act('transfer.accept', openId && xferOf.get(openId)));
ui.offerDecline.addEventListener('click', () => {
  const reason = ui.offerReason.value.trim();
  act('transfer.decline', openId && xferOf.get(openId), reason ? { reason } : {});
});
ui.offerReason.addEventListener('keydown', (ev) => {
  if (ev.key === 'Enter') {
    ev.preventDefault();
    ui.offerDecline.click();
  }
});
ui.xferCancel.addEventListener('click', () => act('transfer.cancel', openId && xferOf.get(openId)));
ui.xferChoose.addEventListener('click', () => {
  const t = openId && xferOf.get(openId);
  if (choosingQueue(t)) openTransferDialog(t);
});
ui.xferDismiss.addEventListener('click', () => {
  const t = openId && xferOf.get(openId);
  if (t) t.seen = true;
  const c = openId && convs.get(openId);
  if (c) {
    renderConversation();
    renderListItem(c);
  }
  if (!ui.composer.hidden) ui.message.focus();
});
ui.handoverDismiss.addEventListener('click', () => {
  const c = openId && convs.get(openId);
  const t = c && receivedTransfer(c);
  if (t) c.handoverSeen = t.id;
  if (c) renderConversation();
  if (!ui.composer.hidden) ui.message.focus();
});
ui.consultJoin.addEventListener('click', () => act('consult.join', openId && xferOf.get(openId)));
ui.consultHandover.addEventListener('click', () => act('consult.finish', openId && xferOf.get(openId), { hand_over: true }));
ui.consultEnd.addEventListener('click', () => act('consult.finish', openId && xferOf.get(openId), { hand_over: false }));
ui.consultLeave.addEventListener('click', () => act('consult.finish', openId && xferOf.get(openId), { hand_over: false }));

ui.consultForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const c = openId && convs.get(openId);
  const text = ui.consultNote.value.trim();
  if (!c || !text) return;
  if (utf8Bytes(text) > kMaxMessageBytes) {
    ui.consultError.textContent = 'That note is too long. Please split it into shorter ones.';
    return;
  }
  ui.consultError.textContent = '';
  sendEntry(c, 'note', text);
  ui.consultNote.value = '';
  ui.consultNote.focus();
});
ui.consultNote.addEventListener('keydown', (ev) => {
  if (ev.key === 'Enter' && !ev.shiftKey && !ev.altKey && !ev.ctrlKey && !ev.metaKey && !ev.isComposing) {
    ev.preventDefault();
    ui.consultForm.requestSubmit();
  }
});

// --- notices about other conversations ------------------------------------------------

function showToast(text, conversation) {
  ui.toastText.textContent = text;
  toastConversation = conversation;
  ui.toastOpen.hidden = !conversation;
  ui.toastClose.hidden = false;
  ui.toast.classList.remove('is-empty');
  clearTimeout(toastTimer);
  toastTimer = setTimeout(hideToast, kToastMs);
}

function hideToast() {
  clearTimeout(toastTimer);
  ui.toastText.textContent = '';
  ui.toastOpen.hidden = true;
  ui.toastClose.hidden = true;
  ui.toast.classList.add('is-empty');
  toastConversation = null;
}

ui.toastClose.addEventListener('click', hideToast);
ui.toastOpen.addEventListener('click', () => {
  const id = toastConversation;
  hideToast();
  if (id && convs.has(id)) openConversation(id);
});

// --- go ------------------------------------------------------------------------

enter();
