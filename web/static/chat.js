// The visitor's chat page: /chat?site=SITE, standalone or inside the widget's iframe.
//
// The conversation (its id and the visitor's token) is kept in localStorage under
// the site's name, so that a reload resumes it; the token travels only in the
// WebSocket hello and in Authorization headers, never in a URL. Messages not yet
// acknowledged are kept too ("outbox") and sent again, with the same client_id,
// after a reconnect: the server stores each client_id once.
//
// Transfers to a partner organization (docs/federation.md §9): on a "move" event
// the page says where the visitor is going and navigates its own frame, by a form
// POST to the origin's transfer page (or straight to the partner's chat page when a
// partner sends the visitor back). At the destination the page opens as
// /chat?site=SITE&joined=1 and takes the conversation over from the server
// (POST /api/visitor/handoff). Messages not yet stored when the move comes travel
// along in window.name (see "carrying messages" below) and are sent on arrival.

import { el, clear, randomId, formatClock, api, download, utf8Bytes, kMaxMessageBytes } from '/assets/util.js';
import { Realtime } from '/assets/realtime.js';

const params = new URLSearchParams(location.search);
let site = (params.get('site') || '').slice(0, 64);
const joinedHere = params.get('joined') === '1';
const framed = window.parent !== window;
let storageKey = `baton.chat.${site}`;
const kCarryPrefix = 'baton:';
const kCarryMaxAgeMs = 15 * 60_000;
const kMoveStuckMs = 20_000;
const kAvailabilityEveryMs = 30_000;
const kTypingIdleMs = 3_000;
const kTypingShownMs = 8_000;
const kLeftSettleMs = 400;

const $ = (id) => document.getElementById(id);
const ui = {
  title: $('title'),
  presence: $('presence'),
  presenceDot: $('presence-dot'),
  minimize: $('minimize'),
  connection: $('connection'),
  intro: $('intro'),
  introText: $('intro-text'),
  name: $('visitor-name'),
  email: $('visitor-email'),
  offline: $('offline'),
  offlineText: $('offline-text'),
  offlineName: $('offline-name'),
  offlineEmail: $('offline-email'),
  offlineMessage: $('offline-message'),
  offlineError: $('offline-error'),
  log: $('log'),
  queueStatus: $('queue-status'),
  ended: $('ended'),
  endedReason: $('ended-reason'),
  saveTranscript: $('save-transcript'),
  restart: $('restart'),
  fatal: $('fatal'),
  footer: $('footer'),
  typing: $('typing'),
  composerError: $('composer-error'),
  composer: $('composer'),
  message: $('message'),
  send: $('send'),
  endChat: $('end-chat'),
  moving: $('moving'),
  movingText: $('moving-text'),
  movingRetry: $('moving-retry'),
};

// --- what the page knows ----------------------------------------------------

const hostPage = readHostPage();
let session = loadSession(); // {conversation, token, outbox: [{client_id, text, at}], offline, email}
let organization = '';
let online = null; // from availability, before a conversation exists
let view = 'loading'; // loading | start | offline | conversation | fatal
let convState = 'waiting'; // waiting | active | closed (of the open conversation)
let agentName = '';
const present = new Map(); // agent id -> name, of the agents in the conversation now
let leftTimer = null;
let position = null; // {place, waiting, online}
let lastSeq = 0;
let synced = false;
let connection = 'connecting';
let creating = false;
const shown = new Set(); // seqs already in the log
const pending = new Map(); // client_id -> {text, at, node, failed}
let rt = null;
let availabilityTimer = null;
let typingSent = false;
let typingIdleTimer = null;
let typingShownTimer = null;
let moving = null; // {destination, form | url}: the page is on its way to another organization
let closedSeq = 0; // seq of the last "closed" event: later events mean the conversation was reopened

// --- storage ----------------------------------------------------------------

const memoryStore = new Map();
function storageGet(key) {
  try {
    return localStorage.getItem(key);
  } catch {
    return memoryStore.get(key) ?? null;
  }
}
function storageSet(key, value) {
  try {
    if (value === null) localStorage.removeItem(key);
    else localStorage.setItem(key, value);
  } catch {
    if (value === null) memoryStore.delete(key);
    else memoryStore.set(key, value);
  }
}

function loadSession() {
  if (!site) return null;
  try {
    const s = JSON.parse(storageGet(storageKey) || 'null');
    if (s && typeof s.conversation === 'string' && typeof s.token === 'string') {
      if (!Array.isArray(s.outbox)) s.outbox = [];
      return s;
    }
  } catch {
    // unreadable: start afresh
  }
  return null;
}

function saveSession() {
  if (!session) {
    storageSet(storageKey, null);
    return;
  }
  session.outbox = [...pending.entries()]
    .filter(([, p]) => !p.failed)
    .map(([client_id, p]) => (p.moved ? { client_id, text: p.text, at: p.at, moved: true } : { client_id, text: p.text, at: p.at }));
  storageSet(storageKey, JSON.stringify(session));
  if (moving) writeCarry();
}

// --- carrying messages to another organization ------------------------------
//
// A message the visitor writes while being moved (or one not yet acknowledged when
// the move comes) is not sent here any more: the partner has the transcript
// already, and what is stored here now would stay here. It travels with the
// browser in window.name, which survives navigating the same frame to another
// origin, as {"carry": {from, to, at, messages: [{client_id, text, at}]},
// "receipt": {ids}}; the chat page at the destination sends it once it has taken
// the conversation over, and leaves a receipt of the client_ids it took. Here the
// messages stay in the outbox marked "moved" and are not sent, unless the visitor
// comes back while the conversation is still open here (stayed, could not reach
// the partner, was sent back): then those without a receipt are sent after all.

function readWindowName() {
  try {
    if (!window.name.startsWith(kCarryPrefix)) return {};
    const v = JSON.parse(window.name.slice(kCarryPrefix.length));
    return v && typeof v === 'object' ? v : {};
  } catch {
    return {};
  }
}

function writeWindowName(v) {
  try {
    window.name = v.carry || (v.receipt && v.receipt.ids && v.receipt.ids.length) ? kCarryPrefix + JSON.stringify(v) : '';
  } catch {
    // nothing to do: the messages stay in this origin's outbox
  }
}

function writeCarry() {
  const v = readWindowName();
  const messages = [...pending.entries()]
    .filter(([, p]) => p.moved && !p.failed)
    .map(([client_id, p]) => ({ client_id, text: p.text, at: p.at }));
  v.carry = messages.length ? { from: location.origin, to: moving.to || '', at: Date.now(), messages } : undefined;
  writeWindowName(v);
}

// What another origin's chat page sent along for this one, or []. `joined`: this
// page has just taken a conversation over from a partner. `canTake`: there is a
// conversation to send them in (else only what is stale or our own is cleared).
function takeCarried(joined, canTake = true) {
  const v = readWindowName();
  const c = v.carry;
  let taken = [];
  if (c && typeof c === 'object' && Array.isArray(c.messages)) {
    const fresh = typeof c.at === 'number' && Date.now() - c.at < kCarryMaxAgeMs;
    const forUs = canTake && c.from !== location.origin && (c.to === location.origin || (joined && !c.to));
    if (fresh && forUs) {
      taken = c.messages
        .filter((m) => m && typeof m.client_id === 'string' && typeof m.text === 'string' && m.text.trim())
        .slice(0, 50)
        .map((m) => ({ client_id: m.client_id.slice(0, 64), text: m.text, at: typeof m.at === 'number' ? m.at : Date.now() }));
      const ids = (v.receipt && Array.isArray(v.receipt.ids) ? v.receipt.ids : []).concat(taken.map((m) => m.client_id));
      v.receipt = { ids: ids.slice(-100) };
    }
    if (fresh ? forUs || c.from === location.origin : true) v.carry = undefined;
  }
  writeWindowName(v);
  return taken;
}

// After the backlog: messages marked "moved" in this origin's outbox went with the
// visitor (or were meant to). A conversation still open here takes those that no
// other page has taken; an ended one takes nothing, and they are let go.
function settleMoved() {
  const moved = [...pending.entries()].filter(([, p]) => p.moved);
  if (!moved.length || moving) return;
  const v = readWindowName();
  const taken = new Set(v.receipt && Array.isArray(v.receipt.ids) ? v.receipt.ids : []);
  for (const [client_id, p] of moved) {
    if (convState === 'closed' || taken.has(client_id)) {
      pending.delete(client_id);
      p.node.remove();
    } else {
      p.moved = false;
      renderPending(client_id);
    }
  }
  if (v.receipt) {
    v.receipt.ids = v.receipt.ids.filter((id) => !moved.some(([client_id]) => client_id === id));
    writeWindowName(v);
  }
  saveSession();
}

// The page the visitor came from: the widget passes it in the fragment (never
// sent to a server by the browser), a standalone page has the referrer.
function readHostPage() {
  let page = '';
  if (location.hash.startsWith('#')) {
    const h = new URLSearchParams(location.hash.slice(1));
    page = h.get('page') || '';
    history.replaceState(null, '', location.pathname + location.search);
  }
  if (!page && !framed) page = document.referrer || '';
  return page.slice(0, 2000);
}

// --- views ------------------------------------------------------------------

function setTitle() {
  const name = organization ? `Chat with ${organization}` : 'Chat';
  ui.title.textContent = name;
  document.title = name;
}

function setPresence() {
  let text = '';
  let tone = 'idle';
  if (moving) {
    text = `Connecting you to ${moving.destination}…`;
    tone = 'on';
  } else if (view === 'conversation' && connection === 'reconnecting') {
    text = 'Reconnecting…';
    tone = 'warn';
  } else if (view === 'conversation') {
    if (convState === 'active') {
      text = agentName ? `Chatting with ${agentName}` : 'Chatting with an agent';
      tone = 'on';
    } else if (convState === 'closed') {
      text = 'Conversation ended';
    } else if (position && !position.online) {
      text = 'Nobody is online right now';
    } else {
      text = 'Waiting for an agent';
      tone = 'on';
    }
  } else if (online === true) {
    text = 'We are online';
    tone = 'on';
  } else if (online === false) {
    text = 'We are away';
  } else {
    text = 'Connecting…';
  }
  ui.presence.textContent = text;
  ui.presenceDot.className = `dot dot-${tone}`;
}

function show(next) {
  if (next === 'offline' && view === 'start') {
    // Carry over what the visitor already told us.
    if (!ui.offlineName.value) ui.offlineName.value = ui.name.value;
    if (!ui.offlineEmail.value) ui.offlineEmail.value = ui.email.value;
  }
  view = next;
  ui.intro.hidden = next !== 'start';
  ui.offline.hidden = next !== 'offline';
  ui.log.hidden = !(next === 'conversation' || (next === 'start' && ui.log.childElementCount > 0));
  ui.footer.hidden = !(next === 'start' || (next === 'conversation' && convState !== 'closed'));
  ui.ended.hidden = !(next === 'conversation' && convState === 'closed');
  ui.endChat.hidden = !(next === 'conversation' && convState !== 'closed') || !!moving;
  ui.fatal.hidden = next !== 'fatal';
  if (next !== 'conversation') ui.queueStatus.textContent = '';
  setPresence();
  renderQueueStatus();
}

function fatal(text) {
  ui.fatal.textContent = text;
  show('fatal');
}

function renderQueueStatus() {
  if (view !== 'conversation') return;
  let text = '';
  if (moving) {
    text = '';
  } else if (convState === 'waiting') {
    if (position && !position.online) {
      text = session && session.offline
        ? 'Thank you. Nobody is online right now; we have your message and will reply here or by e-mail.'
        : 'Nobody is online right now. We have your message and will reply as soon as we can.';
    } else if (position && position.place === 1) {
      text = 'You are next in line. An agent will be with you shortly.';
    } else if (position && position.place > 1) {
      text = `You are number ${position.place} in line. An agent will be with you shortly.`;
    } else if (session && session.offline) {
      text = 'Thank you. We have your message and will reply here or by e-mail.';
    } else {
      text = 'Waiting for an agent…';
    }
  }
  if (ui.queueStatus.textContent !== text) ui.queueStatus.textContent = text;
}

function setConvState(next) {
  if (convState === next) return;
  convState = next;
  if (next === 'closed') {
    stopTyping();
    showTyping(null);
  }
  show('conversation');
}

// --- start: availability, pre-chat, offline form ---------------------------

async function checkAvailability() {
  try {
    const a = await api(`/api/visitor/availability?site=${encodeURIComponent(site)}`);
    organization = a.organization || organization;
    setTitle();
    const wasOnline = online;
    online = !!a.online;
    if (view === 'loading' || view === 'start' || view === 'offline') {
      if (online && view !== 'start' && !offlineDirty()) show('start');
      else if (!online && view !== 'offline' && !ui.message.value.trim() && !creating) show('offline');
      else if (view === 'loading') show(online ? 'start' : 'offline');
      else setPresence();
    }
    if (wasOnline === null && view === 'start') ui.introText.textContent = introText(a);
    return true;
  } catch (e) {
    if (e.status === 404) {
      fatal('This chat is not set up for this website.');
      return false;
    }
    if (view === 'loading') {
      online = null;
      show('start');
      ui.composerError.textContent = e.message;
    }
    return true;
  }
}

function introText(a) {
  if (a.waiting > 0) return `Ask us anything. ${a.waiting === 1 ? 'One person is' : `${a.waiting} people are`} waiting before you.`;
  return 'Ask us anything. We usually reply within a few minutes.';
}

function offlineDirty() {
  return ui.offlineMessage.value.trim() !== '' || ui.offlineEmail.value.trim() !== '';
}

function startAvailabilityPolling() {
  clearInterval(availabilityTimer);
  availabilityTimer = setInterval(() => {
    if (view === 'start' || view === 'offline') checkAvailability();
  }, kAvailabilityEveryMs);
}

async function createConversation({ text, name, email, offline }) {
  const client_id = randomId();
  const body = { site, client_id, text };
  if (name) body.name = name;
  if (email) body.email = email;
  if (hostPage) body.page = hostPage;
  if (offline) body.offline = true;
  creating = true;
  try {
    const r = await api('/api/visitor/conversations', { method: 'POST', body });
    organization = r.organization || organization;
    setTitle();
    session = { conversation: r.conversation, token: r.token, outbox: [], offline: !!offline };
    if (email) session.email = email;
    // The first message is stored already: show it as sent; the backlog will confirm it.
    addPending(client_id, text, Date.now(), true);
    saveSession();
    openConversation();
    return true;
  } finally {
    creating = false;
  }
}

function validEmail(s) {
  return /^[^\s@]+@[^\s@]+$/.test(s);
}

ui.offline.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  ui.offlineError.textContent = '';
  const text = ui.offlineMessage.value.trim();
  const email = ui.offlineEmail.value.trim();
  const name = ui.offlineName.value.trim();
  if (!validEmail(email)) {
    ui.offlineError.textContent = 'Please enter your e-mail address, so that we can answer you.';
    ui.offlineEmail.setAttribute('aria-invalid', 'true');
    ui.offlineEmail.focus();
    return;
  }
  ui.offlineEmail.removeAttribute('aria-invalid');
  if (!text) {
    ui.offlineError.textContent = 'Please write your message.';
    ui.offlineMessage.setAttribute('aria-invalid', 'true');
    ui.offlineMessage.focus();
    return;
  }
  if (utf8Bytes(text) > kMaxMessageBytes) {
    ui.offlineError.textContent = 'That message is too long. Please shorten it.';
    ui.offlineMessage.setAttribute('aria-invalid', 'true');
    ui.offlineMessage.focus();
    return;
  }
  ui.offlineMessage.removeAttribute('aria-invalid');
  const button = ui.offline.querySelector('button[type=submit]');
  button.disabled = true;
  try {
    await createConversation({ text, name, email, offline: true });
    ui.offlineMessage.value = '';
    ui.message.focus();
  } catch (e) {
    ui.offlineError.textContent = `Your message could not be sent: ${e.message}`;
  } finally {
    button.disabled = false;
  }
});

// --- the conversation -------------------------------------------------------

function openConversation() {
  clearInterval(availabilityTimer);
  for (const item of session.outbox) {
    if (!pending.has(item.client_id)) addPending(item.client_id, item.text, item.at || Date.now(), false, !!item.moved);
  }
  convState = 'waiting';
  show('conversation');
  if (rt) rt.stop();
  synced = false;
  rt = new Realtime({
    hello: () => ({
      type: 'hello',
      role: 'visitor',
      conversation: session.conversation,
      token: session.token,
      last_seq: lastSeq,
    }),
    onMessage,
    onState: (s) => {
      connection = s;
      if (s !== 'open') synced = false;
      ui.connection.textContent = s === 'reconnecting' ? 'Connection lost. Reconnecting…' : '';
      setPresence();
    },
  });
  rt.start();
}

function onMessage(msg) {
  if (!session) return;
  if (msg.conversation && msg.conversation !== session.conversation) return;
  switch (msg.type) {
    case 'welcome':
      if (msg.organization) {
        organization = msg.organization;
        setTitle();
      }
      break;
    case 'event':
      onEvent(msg);
      break;
    case 'synced':
      synced = true;
      settleMoved();
      flushOutbox();
      break;
    case 'move':
      onMove(msg);
      break;
    case 'ack':
      onAck(msg);
      break;
    case 'typing':
      if (msg.who && msg.who.kind !== 'visitor') showTyping(msg.on ? msg.who.name || 'The agent' : null);
      break;
    case 'position':
      position = { place: msg.place, waiting: msg.waiting, online: msg.online };
      if (convState === 'waiting') {
        renderQueueStatus();
        setPresence();
      }
      break;
    case 'error':
      onError(msg);
      break;
    default:
      break;
  }
}

// --- moving to another organization ------------------------------------------

// {"type":"move","destination","action":"/transfer"}: to a partner, through the
// transfer page here. {"type":"move","destination","url"}: back to the
// organization the visitor came from, straight to its chat page.
function onMove(msg) {
  if (moving || !session) return;
  const destination = typeof msg.destination === 'string' && msg.destination.trim() ? msg.destination.trim().slice(0, 200) : 'another team';
  let target = null;
  if (typeof msg.url === 'string' && msg.url) {
    try {
      const u = new URL(msg.url, location.href);
      if (u.protocol === 'https:' || u.protocol === 'http:') target = { url: u.href, to: u.origin };
    } catch {
      target = null;
    }
  } else if (typeof msg.action === 'string' && /^\/[^/\\]/.test(msg.action)) {
    target = { action: msg.action, to: '' };
  }
  if (!target) return;
  moving = { destination, ...target };
  stopTyping();
  showTyping(null);
  // What is not stored yet goes along, and is sent on arrival.
  for (const [client_id, p] of pending) {
    if (!p.failed && !p.created) {
      p.moved = true;
      renderPending(client_id);
    }
  }
  saveSession();
  ui.movingText.textContent = `Connecting you to ${destination}…`;
  ui.moving.hidden = false;
  ui.endChat.hidden = true;
  ui.queueStatus.textContent = '';
  setPresence();
  go();
  setTimeout(() => {
    ui.movingText.textContent = `Still connecting you to ${destination}… If nothing happens, try again.`;
    ui.movingRetry.hidden = false;
  }, kMoveStuckMs);
}

// Navigates this frame (also inside the widget's iframe) on to the destination.
function go() {
  if (moving.url) {
    location.assign(moving.url);
    return;
  }
  const form = el(
    'form',
    { method: 'post', action: moving.action, hidden: true },
    el('input', { type: 'hidden', name: 'conversation', value: session.conversation }),
    el('input', { type: 'hidden', name: 'token', value: session.token }),
  );
  const old = document.getElementById('move-form');
  if (old) old.remove();
  form.id = 'move-form';
  document.body.append(form);
  form.submit();
}

function onError(msg) {
  if (msg.in_reply_to === 'hello') {
    if (msg.code === 'forbidden' || msg.code === 'not_found') {
      // The conversation is gone (or the token no longer opens it): start afresh.
      resetConversation();
      return;
    }
    ui.composerError.textContent = msg.message || 'The chat could not connect.';
    return;
  }
  if (msg.in_reply_to === 'message' && msg.client_id && pending.has(msg.client_id)) {
    const p = pending.get(msg.client_id);
    if (msg.code === 'rate_limited' || msg.code === 'unavailable') {
      setTimeout(() => {
        if (pending.has(msg.client_id) && synced) sendPending(msg.client_id);
      }, 2000);
      return;
    }
    p.failed = true;
    renderPending(msg.client_id);
    saveSession();
    if (msg.code === 'conflict') setConvState('closed');
    return;
  }
  if (msg.message) ui.composerError.textContent = msg.message;
}

function onEvent(e) {
  if (typeof e.seq !== 'number' || shown.has(e.seq)) return;
  shown.add(e.seq);
  lastSeq = Math.max(lastSeq, e.seq);
  const author = e.author || {};
  // Anything after the end means the conversation was opened again (a partner
  // organization sent the visitor back): waiting, until an agent joins.
  if (convState === 'closed' && e.kind !== 'closed' && e.seq > closedSeq && e.kind !== 'note') {
    ui.endedReason.textContent = '';
    present.clear();
    agentName = '';
    setConvState('waiting');
  }
  switch (e.kind) {
    case 'message': {
      const mine = author.kind === 'visitor';
      if (mine && e.client_id && pending.has(e.client_id) && pending.get(e.client_id).moved) {
        // Stored here after all, but it goes with the visitor: it stays in the carry.
      } else if (mine && e.client_id && pending.has(e.client_id)) {
        const p = pending.get(e.client_id);
        pending.delete(e.client_id);
        saveSession();
        settle(p.node, e);
      } else {
        insertEvent(messageNode(e, mine));
        if (!mine) notifyParent();
      }
      if (author.kind === 'agent') {
        if (!present.has(author.id || author.name || '')) agentPresent(author);
        if (convState === 'waiting') setConvState('active');
      }
      break;
    }
    case 'joined':
      agentPresent(author);
      insertEvent(systemNode(e));
      setConvState('active');
      setPresence();
      break;
    case 'left':
      insertEvent(systemNode(e));
      agentLeft(author);
      break;
    case 'closed':
      closedSeq = Math.max(closedSeq, e.seq);
      insertEvent(systemNode(e));
      ui.endedReason.textContent = e.text || '';
      setConvState('closed');
      break;
    case 'system':
      insertEvent(systemNode(e));
      break;
    default:
      break; // notes never reach visitors
  }
}

// Who is with the visitor. A transfer is a "left" and a "joined" in a row, and a
// warm transfer has two agents present for a while: the visitor is waiting only
// when the last agent has left. A live "left" that empties the room waits a moment
// before showing "waiting", so that a transfer's "joined" that follows at once
// does not flash the queue text.
function agentPresent(author) {
  clearTimeout(leftTimer);
  const key = author.id || author.name || '';
  present.delete(key);
  present.set(key, author.name || '');
  agentName = presentNames();
}

// "Alice", "Alice and Carol": who the visitor is chatting with.
function presentNames() {
  const names = [...present.values()].filter(Boolean);
  if (names.length <= 1) return names[0] || '';
  return `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
}

function agentLeft(author) {
  if (author.id || author.name) present.delete(author.id || author.name);
  else present.clear();
  if (present.size > 0) {
    agentName = presentNames();
    setPresence();
    return;
  }
  if (convState !== 'active') return;
  clearTimeout(leftTimer);
  if (!synced) {
    setConvState('waiting');
    return;
  }
  leftTimer = setTimeout(() => {
    if (present.size === 0 && convState === 'active') setConvState('waiting');
  }, kLeftSettleMs);
}

function onAck(msg) {
  const p = pending.get(msg.client_id);
  if (!p || p.moved) return;
  shown.add(msg.seq);
  lastSeq = Math.max(lastSeq, msg.seq);
  pending.delete(msg.client_id);
  saveSession();
  settle(p.node, { seq: msg.seq, at: p.at, client_id: msg.client_id });
}

function flushOutbox() {
  for (const [client_id, p] of pending) {
    if (!p.failed && !p.created && !p.moved) sendPending(client_id);
  }
}

function sendPending(client_id) {
  const p = pending.get(client_id);
  if (!p || !rt || p.moved || moving) return;
  rt.send({ type: 'message', conversation: session.conversation, client_id, text: p.text });
}

// --- rendering --------------------------------------------------------------

function firstPendingNode() {
  for (const p of pending.values()) if (p.node.isConnected) return p.node;
  return null;
}

function nearBottom() {
  const s = ui.log;
  return s.scrollHeight - s.scrollTop - s.clientHeight < 80;
}

function scrollDown(force) {
  if (force || nearBottom()) ui.log.scrollTop = ui.log.scrollHeight;
}

function insertEvent(node) {
  const stick = nearBottom();
  ui.log.insertBefore(node, firstPendingNode());
  if (ui.log.hidden && view !== 'loading') ui.log.hidden = false;
  scrollDown(stick);
}

function messageNode(e, mine) {
  const who = mine ? 'You' : (e.author && e.author.name) || (e.author && e.author.kind === 'agent' ? 'Agent' : 'Visitor');
  return el(
    'div',
    { class: `msg ${mine ? 'msg-mine' : 'msg-theirs'}`, 'data-seq': e.seq },
    el('p', { class: 'msg-meta' }, el('span', { class: 'msg-author', text: who }), ' ', el('time', { text: formatClock(e.at) })),
    el('p', { class: 'msg-text', text: e.text || '' }),
  );
}

function systemNode(e) {
  return el('p', { class: 'sys', 'data-seq': e.seq }, el('span', { text: e.text || '' }), ' ', el('time', { text: formatClock(e.at) }));
}

// A message of ours on its way. `created`: stored already with the conversation.
// `moved`: kept for the organization the visitor is being moved to.
function addPending(client_id, text, at, created, moved) {
  const node = el(
    'div',
    { class: 'msg msg-mine msg-pending' },
    el('p', { class: 'msg-meta' }, el('span', { class: 'msg-author', text: 'You' }), ' ', el('time', { text: formatClock(at) })),
    el('p', { class: 'msg-text', text }),
    el('p', { class: 'msg-state', text: 'Sending…' }),
  );
  pending.set(client_id, { text, at, node, failed: false, created: !!created, moved: !!moved });
  const stick = true;
  ui.log.append(node);
  ui.log.hidden = false;
  scrollDown(stick);
  if (created) {
    // Already stored: wait for the backlog to confirm it, without resending.
    node.querySelector('.msg-state').textContent = 'Sent';
  }
}

function renderPending(client_id) {
  const p = pending.get(client_id);
  if (!p) return;
  const state = p.node.querySelector('.msg-state');
  clear(state);
  if (p.failed) {
    p.node.classList.add('msg-failed');
    state.append(
      'Not sent. ',
      convState === 'closed'
        ? ''
        : el('button', {
            type: 'button',
            class: 'link-button',
            text: 'Retry',
            on: {
              click: () => {
                p.failed = false;
                p.node.classList.remove('msg-failed');
                state.textContent = 'Sending…';
                saveSession();
                if (synced) sendPending(client_id);
              },
            },
          }),
    );
  } else {
    state.textContent = p.moved && moving ? `Sending when you reach ${moving.destination}…` : 'Sending…';
  }
}

function settle(node, e) {
  node.classList.remove('msg-pending', 'msg-failed');
  node.dataset.seq = String(e.seq);
  const state = node.querySelector('.msg-state');
  if (state) state.remove();
  if (e.at) node.querySelector('time').textContent = formatClock(e.at);
  // Keep the log in sequence order: move it before any message still on its way.
  const before = firstPendingNode();
  if (before && before !== node) ui.log.insertBefore(node, before);
}

function showTyping(name) {
  clearTimeout(typingShownTimer);
  ui.typing.textContent = name ? `${name} is typing…` : '';
  if (name) typingShownTimer = setTimeout(() => (ui.typing.textContent = ''), kTypingShownMs);
}

// Lets the widget show a badge on its launcher while the panel is closed.
// Nothing in it is private: the host page may read it.
function notifyParent() {
  if (framed) window.parent.postMessage({ baton: 'message' }, '*');
}

// --- composing --------------------------------------------------------------

function sendTyping(on) {
  if (!rt || !session || convState === 'closed') return;
  if (rt.send({ type: 'typing', conversation: session.conversation, on })) typingSent = on;
}

function stopTyping() {
  clearTimeout(typingIdleTimer);
  if (typingSent) sendTyping(false);
}

ui.message.addEventListener('input', () => {
  autoGrow();
  ui.composerError.textContent = '';
  if (view !== 'conversation') return;
  if (!typingSent && ui.message.value.trim()) sendTyping(true);
  clearTimeout(typingIdleTimer);
  typingIdleTimer = setTimeout(stopTyping, kTypingIdleMs);
});

ui.message.addEventListener('keydown', (ev) => {
  if (ev.key === 'Enter' && !ev.shiftKey && !ev.altKey && !ev.ctrlKey && !ev.metaKey && !ev.isComposing) {
    ev.preventDefault();
    ui.composer.requestSubmit();
  }
});

function autoGrow() {
  ui.message.style.height = 'auto';
  ui.message.style.height = `${Math.min(ui.message.scrollHeight, 140)}px`;
}

ui.composer.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const text = ui.message.value.trim();
  ui.composerError.textContent = '';
  if (!text || creating) return;
  if (utf8Bytes(text) > kMaxMessageBytes) {
    ui.composerError.textContent = 'That message is too long. Please split it into shorter ones.';
    return;
  }
  if (view === 'start') {
    const email = ui.email.value.trim();
    if (email && !validEmail(email)) {
      ui.composerError.textContent = 'That e-mail address does not look right.';
      ui.email.setAttribute('aria-invalid', 'true');
      ui.email.focus();
      return;
    }
    ui.email.removeAttribute('aria-invalid');
    ui.send.disabled = true;
    try {
      ui.message.value = '';
      autoGrow();
      await createConversation({ text, name: ui.name.value.trim(), email });
    } catch (e) {
      ui.message.value = text;
      ui.composerError.textContent = `Your message could not be sent: ${e.message}`;
    } finally {
      ui.send.disabled = false;
      ui.message.focus();
    }
    return;
  }
  if (view !== 'conversation' || convState === 'closed') return;
  const client_id = randomId();
  addPending(client_id, text, Date.now(), false, !!moving);
  if (moving) renderPending(client_id);
  saveSession();
  ui.message.value = '';
  autoGrow();
  stopTyping();
  if (synced) sendPending(client_id);
  ui.message.focus();
});

// --- ending -----------------------------------------------------------------

ui.endChat.addEventListener('click', () => {
  if (!rt || !session) return;
  if (!rt.send({ type: 'close', conversation: session.conversation })) {
    ui.composerError.textContent = 'Not connected; try again in a moment.';
  }
});

ui.saveTranscript.addEventListener('click', async () => {
  if (!session) return;
  try {
    await download(`/api/conversations/${encodeURIComponent(session.conversation)}/transcript?format=text`, session.token,
      `chat-${new Date().toISOString().slice(0, 10)}.txt`);
  } catch (e) {
    ui.endedReason.textContent = `The transcript could not be saved: ${e.message}`;
  }
});

ui.movingRetry.addEventListener('click', () => {
  if (moving) go();
});

ui.restart.addEventListener('click', () => {
  resetConversation();
  ui.message.focus();
});

function resetConversation() {
  if (rt) rt.stop();
  rt = null;
  session = null;
  saveSession();
  pending.clear();
  shown.clear();
  lastSeq = 0;
  synced = false;
  agentName = '';
  present.clear();
  clearTimeout(leftTimer);
  position = null;
  convState = 'waiting';
  closedSeq = 0;
  clear(ui.log);
  ui.endedReason.textContent = '';
  showTyping(null);
  view = 'loading';
  checkAvailability().then(startAvailabilityPolling);
}

// --- the widget around us ----------------------------------------------------

if (framed) {
  ui.minimize.hidden = false;
  ui.minimize.addEventListener('click', () => window.parent.postMessage({ baton: 'minimize' }, '*'));
  document.documentElement.classList.add('framed');
}
document.addEventListener('keydown', (ev) => {
  if (ev.key === 'Escape' && framed) window.parent.postMessage({ baton: 'minimize' }, '*');
});

// --- go -----------------------------------------------------------------------

// Arrived from a partner organization (/chat?site=SITE&joined=1, after /join):
// the server hands the conversation over once, from an HttpOnly cookie. It
// becomes this site's conversation, replacing any other kept here.
async function takeOver() {
  let r = null;
  for (let attempt = 0; attempt < 3 && !r; attempt += 1) {
    try {
      r = await api('/api/visitor/handoff', { method: 'POST' });
    } catch (e) {
      if (e.status !== 0 && e.status < 500) break; // nothing to hand over: no retry helps
      await new Promise((resolve) => setTimeout(resolve, 1000 * (attempt + 1)));
    }
  }
  if (!r || typeof r.conversation !== 'string' || typeof r.token !== 'string') return false;
  if (typeof r.site === 'string' && r.site && r.site.length <= 64) {
    site = r.site;
    storageKey = `baton.chat.${site}`;
  }
  history.replaceState(null, '', `/chat?site=${encodeURIComponent(site)}`);
  organization = r.organization || organization;
  setTitle();
  // Kept as is (saveSession would rebuild the outbox from messages on screen):
  // openConversation shows the carried messages and sends them once synced.
  session = { conversation: r.conversation, token: r.token, outbox: takeCarried(true), offline: false };
  storageSet(storageKey, JSON.stringify(session));
  return true;
}

function start() {
  if (session) {
    const carried = takeCarried(false);
    for (const m of carried) if (!session.outbox.some((o) => o.client_id === m.client_id)) session.outbox.push(m);
    if (carried.length) storageSet(storageKey, JSON.stringify(session));
    openConversation();
  } else {
    takeCarried(false, false);
    checkAvailability().then((ok) => ok && startAvailabilityPolling());
  }
}

setTitle();
if (!site) {
  fatal('This chat link is missing its site (?site=…).');
} else if (joinedHere) {
  takeOver().then((ok) => {
    if (!ok) {
      history.replaceState(null, '', `/chat?site=${encodeURIComponent(site)}`);
      if (!session) {
        ui.composerError.textContent = 'We could not find the conversation you were transferred with. Please write to us again.';
      }
    }
    start();
  });
} else {
  start();
}
