// The agent console: /console.
//
// Signing in sets an HttpOnly session cookie; the console's WebSocket and API
// calls are authenticated by it, so no token is kept by this script. On hello the
// server sends the agent's desk (its conversations and its queues' waiting ones),
// then "conversation" summaries as they change. The console subscribes to the
// agent's own live conversations (for unread counts and typing) and to the one
// that is open; each subscription resumes from the last sequence number seen.

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
  transferNote: $('transfer-note'),
  transferResult: $('transfer-result'),
  transferCancel: $('transfer-cancel'),
};

const kTypingIdleMs = 3_000;
const kTypingShownMs = 8_000;
const LIVE = new Set(['waiting', 'active', 'transferring']);

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
    // The session cookie is HttpOnly: only the server can end it.
    await api('/api/agent/session', { method: 'DELETE', timeoutMs: 10_000 });
    // Offline now, rather than after the server's grace period for dropped consoles.
    if (rt) rt.send({ type: 'status', status: 'offline' });
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
  const present = new Set();
  for (const s of msg.conversations || []) {
    upsert(s, !firstDesk);
    present.add(s.id);
  }
  // What the desk no longer lists has ended or moved on while we were away.
  for (const [id, c] of convs) {
    if (!present.has(id) && LIVE.has(c.s.state) && !c.history && id !== openId) convs.delete(id);
  }
  firstDesk = false;
  for (const c of convs.values()) ensureSubscription(c);
  renderList();
  if (openId && convs.has(openId)) renderConversation();
}

function myName() {
  return me && me.agent ? me.agent.name : '';
}

function shouldList(s) {
  return s.agent === myName() || s.state === 'waiting';
}

function wantsSubscription(c) {
  if (c.s.id === openId) return true;
  return c.s.agent === myName() && LIVE.has(c.s.state) && c.s.state !== 'waiting';
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
  if (e.kind === 'closed') c.s = { ...c.s, state: 'closed' };
  if (c.s.id === openId) {
    if (c.synced) appendEvent(e, c);
    if (e.kind === 'closed') renderConversation();
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
  const order = (c) => (LIVE.has(c.s.state) ? 0 : 1);
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
    tags.push(el('span', { class: 'tag tag-active', text: 'Transferring' }));
  } else {
    tags.push(el('span', { class: 'tag tag-closed', text: s.state === 'closed' ? 'Closed' : s.state }));
  }
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
  const c = openId && convs.get(openId);
  if (c) {
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
  updateComposerMode();
  ensureSubscription(c);
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
  ui.convTitle.textContent = visitorLabel(s);
  const stateText = {
    waiting: `Waiting${s.place ? `, number ${s.place} in line` : ''}`,
    active: mine ? 'Active, with you' : `Active, with ${s.agent}`,
    transferring: 'Being transferred',
    closed: 'Closed',
    transferred: 'Transferred',
    abandoned: 'Abandoned',
  }[s.state] || s.state;
  ui.convSub.textContent = `${stateText} · ${s.queue || ''}`;
  ui.claim.hidden = s.state !== 'waiting';
  ui.transfer.hidden = !active;
  ui.close.hidden = !active;
  ui.composer.hidden = !live;
  ui.closedNote.hidden = live;
  ui.closedNote.textContent = s.state === 'closed' ? 'This conversation is closed.' : `This conversation is ${s.state}.`;
  // A conversation that is not ours takes internal notes only (until we take it).
  if (!active && live) {
    ui.noteMode.checked = true;
    ui.noteMode.disabled = true;
  } else if (ui.noteMode.disabled) {
    ui.noteMode.disabled = false;
    ui.noteMode.checked = false;
  }
  updateComposerMode();
  renderDetails(c);
  renderTyping(c);
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
    const who = a.name || (a.kind === 'visitor' ? 'Visitor' : a.id || 'Agent');
    const node = el(
      'div',
      {
        class: `msg ${e.kind === 'note' ? 'note' : mine ? 'from-agent' : 'from-visitor'}`,
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
  if (!c || ui.noteMode.checked || c.s.agent !== myName()) return;
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
  const kind = ui.noteMode.checked ? 'note' : 'message';
  const client_id = randomId();
  const p = { client_id, kind, text, at: Date.now(), failed: false, node: null };
  c.pending.set(client_id, p);
  p.node = pendingNode(p);
  ui.transcript.append(p.node);
  ui.transcript.scrollTop = ui.transcript.scrollHeight;
  ui.message.value = '';
  stopTyping();
  if (c.synced) rt.send({ type: kind, conversation: c.s.id, client_id, text });
  ui.message.focus();
});

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

// --- transfer ----------------------------------------------------------------------

function destination(name, value, label, detail) {
  const id = `dest-${value.replace(/[^a-z0-9_-]/gi, '_')}`;
  return el(
    'div',
    { class: 'dest-option' },
    el('input', { type: 'radio', name: 'destination', id, value }),
    el('label', { for: id }, el('span', { text: label }), detail ? el('span', { class: 'muted', text: ` ${detail}` }) : null),
  );
}

ui.transfer.addEventListener('click', () => {
  if (!me) return;
  for (const fs of [ui.transferAgents, ui.transferQueues]) {
    for (const child of [...fs.children]) if (child.tagName !== 'LEGEND') child.remove();
  }
  const agents = me.agents || [];
  if (agents.length === 0) ui.transferAgents.append(el('p', { class: 'muted', text: 'No other agents.' }));
  for (const a of agents) ui.transferAgents.append(destination('agent', `agent:${a.name}`, a.display_name || a.name, ''));
  const queues = me.queues || [];
  for (const q of queues) {
    const info = queueInfo.find((x) => x.name === q);
    const detail = info ? (info.waiting ? `(${info.waiting} waiting)` : '(nobody waiting)') : '';
    ui.transferQueues.append(destination('queue', `queue:${q}`, q, detail));
  }
  ui.transferNote.value = '';
  ui.transferResult.textContent = '';
  ui.dialog.showModal();
  const first = ui.dialog.querySelector('input[type=radio]');
  if (first) first.focus();
});

ui.transferCancel.addEventListener('click', () => ui.dialog.close());

ui.transferForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const picked = ui.dialog.querySelector('input[name=destination]:checked');
  if (!picked) {
    ui.transferResult.textContent = 'Pick where the conversation should go.';
    return;
  }
  // The transfer protocol comes with federation; until then the dialog says so.
  ui.transferResult.textContent = 'Transfers are not available yet. The conversation stays with you.';
});

// --- go ------------------------------------------------------------------------

enter();
