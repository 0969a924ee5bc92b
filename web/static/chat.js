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

import { el, randomId, formatClock, api, download, utf8Bytes, kMaxMessageBytes } from '/assets/util.js';
import { Realtime } from '/assets/realtime.js';
import { ConversationStream, TranscriptView, TypingLine } from '/assets/stream.js';
import { Composer } from '/assets/composer.js';

const params = new URLSearchParams(location.search);
let site = (params.get('site') || '').slice(0, 64);
const joinedHere = params.get('joined') === '1';
const framed = window.parent !== window;
let storageKey = `baton.chat.${site}`;
const kCarryPrefix = 'baton:';
const kCarryMaxAgeMs = 15 * 60_000;
const kMoveStuckMs = 20_000;
const kAvailabilityEveryMs = 30_000;
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
let connection = 'connecting';
let creating = false;
let stream = null; // the conversation's ConversationStream, once there is one
let rt = null;
let availabilityTimer = null;
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
  session.outbox = [...(stream ? stream.pending.values() : [])]
    .filter((p) => !p.failed)
    .map((p) => (p.held ? { client_id: p.client_id, text: p.text, at: p.at, moved: true } : { client_id: p.client_id, text: p.text, at: p.at }));
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
  const messages = [...(stream ? stream.pending.values() : [])]
    .filter((p) => p.held && !p.failed)
    .map((p) => ({ client_id: p.client_id, text: p.text, at: p.at }));
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
// Runs on every synced, before the stream sends what is pending.
function settleMoved() {
  const moved = [...stream.pending.values()].filter((p) => p.held);
  if (!moved.length || moving) return;
  const v = readWindowName();
  const taken = new Set(v.receipt && Array.isArray(v.receipt.ids) ? v.receipt.ids : []);
  for (const p of moved) {
    if (convState === 'closed' || taken.has(p.client_id)) stream.drop(p.client_id);
    else stream.hold(p.client_id, false);
  }
  if (v.receipt) {
    v.receipt.ids = v.receipt.ids.filter((id) => !moved.some((p) => p.client_id === id));
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
    composer.stopTyping();
    typingLine.show(null);
  }
  transcript.refreshPending();
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
      else if (!online && view !== 'offline' && !composer.value.trim() && !creating) show('offline');
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
    // The first message is stored already: shown as sent; the backlog will confirm it.
    openConversation({ client_id, text, at: Date.now() });
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
    composer.focus();
  } catch (e) {
    ui.offlineError.textContent = `Your message could not be sent: ${e.message}`;
  } finally {
    button.disabled = false;
  }
});

// --- the conversation -------------------------------------------------------

// `first`: the first message, stored already with the conversation's creation.
function openConversation(first = null) {
  clearInterval(availabilityTimer);
  if (rt) rt.stop();
  const restore = session.outbox.slice();
  stream = new ConversationStream({
    id: session.conversation,
    send: (msg) => !!rt && rt.send(msg),
    self: { kind: 'visitor' },
  });
  stream.on('event', onEvent);
  stream.on('synced', settleMoved); // before the stream sends what is pending
  stream.on('typing', (t) => typingLine.show(t));
  stream.on('outbox', saveSession);
  transcript.show(stream);
  if (first) stream.post('message', first.text, { client_id: first.client_id, at: first.at, stored: true });
  for (const item of restore) {
    if (!stream.pending.has(item.client_id)) {
      stream.post('message', item.text, { client_id: item.client_id, at: item.at || Date.now(), held: !!item.moved });
    }
  }
  convState = 'waiting';
  show('conversation');
  rt = new Realtime({
    hello: () => ({
      type: 'hello',
      role: 'visitor',
      conversation: session.conversation,
      token: session.token,
      last_seq: stream.lastSeq,
    }),
    onMessage,
    onState: (s) => {
      connection = s;
      if (s !== 'open') stream.disconnected();
      ui.connection.textContent = s === 'reconnecting' ? 'Connection lost. Reconnecting…' : '';
      setPresence();
    },
  });
  rt.start();
}

function onMessage(msg) {
  if (!session || !stream) return;
  if (msg.conversation && msg.conversation !== session.conversation) return;
  switch (msg.type) {
    case 'welcome':
      if (msg.organization) {
        organization = msg.organization;
        setTitle();
      }
      break;
    case 'event':
    case 'synced':
    case 'ack':
    case 'typing':
      stream.receive(msg);
      break;
    case 'move':
      onMove(msg);
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
  composer.stopTyping();
  typingLine.show(null);
  // What is not stored yet goes along, and is sent on arrival.
  for (const p of stream.pending.values()) {
    if (!p.failed && !p.stored) stream.hold(p.client_id, true);
  }
  transcript.refreshPending();
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
  // A message that was refused (or is to be sent again): the stream knows it.
  if (stream.receive(msg)) {
    if (msg.code === 'conflict') setConvState('closed');
    return;
  }
  if (msg.message) ui.composerError.textContent = msg.message;
}

// A new event of the conversation (the stream shows it in the log). `own`: the
// message of ours it settled.
function onEvent(e, own) {
  const author = e.author || {};
  // Anything after the end means the conversation was opened again (a partner
  // organization sent the visitor back): waiting, until an agent joins.
  if (convState === 'closed' && e.kind !== 'closed' && e.seq > closedSeq && e.kind !== 'note') {
    ui.endedReason.textContent = '';
    present.clear();
    agentName = '';
    setConvState('waiting');
  }
  if (ui.log.hidden && view !== 'loading') ui.log.hidden = false;
  switch (e.kind) {
    case 'message':
      if (author.kind !== 'visitor' && !own) notifyParent();
      if (author.kind === 'agent') {
        if (!present.has(author.id || author.name || '')) agentPresent(author);
        if (convState === 'waiting') setConvState('active');
      }
      break;
    case 'joined':
      agentPresent(author);
      setConvState('active');
      setPresence();
      break;
    case 'left':
      agentLeft(author);
      break;
    case 'closed':
      closedSeq = Math.max(closedSeq, e.seq);
      ui.endedReason.textContent = e.text || '';
      setConvState('closed');
      break;
    default:
      break; // system lines are only shown; notes never reach visitors
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
  if (!stream.synced) {
    setConvState('waiting');
    return;
  }
  leftTimer = setTimeout(() => {
    if (present.size === 0 && convState === 'active') setConvState('waiting');
  }, kLeftSettleMs);
}

// --- rendering --------------------------------------------------------------

function eventNode(e) {
  if (e.kind === 'message') return messageNode(e, (e.author || {}).kind === 'visitor');
  if (e.kind === 'joined' || e.kind === 'left' || e.kind === 'closed' || e.kind === 'system') return systemNode(e);
  return null;
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

// A message of ours on its way (the view adds its state line).
function pendingNode(p) {
  return el(
    'div',
    { class: 'msg msg-mine' },
    el('p', { class: 'msg-meta' }, el('span', { class: 'msg-author', text: 'You' }), ' ', el('time', { text: formatClock(p.at) })),
    el('p', { class: 'msg-text', text: p.text }),
  );
}

function pendingState(p) {
  if (p.failed) {
    if (convState === 'closed') return 'Not sent.';
    return ['Not sent. ', el('button', { type: 'button', class: 'link-button', text: 'Retry', on: { click: () => stream.retry(p.client_id) } })];
  }
  if (p.held && moving) return `Sending when you reach ${moving.destination}…`;
  if (p.stored) return 'Sent';
  return 'Sending…';
}

// Lets the widget show a badge on its launcher while the panel is closed.
// Nothing in it is private: the host page may read it.
function notifyParent() {
  if (framed) window.parent.postMessage({ baton: 'message' }, '*');
}

// --- composing --------------------------------------------------------------

const transcript = new TranscriptView(ui.log, { eventNode, pendingNode, pendingState });
const typingLine = new TypingLine(ui.typing);
const composer = new Composer({
  form: ui.composer,
  textarea: ui.message,
  maxHeight: 140,
  onError: (text) => (ui.composerError.textContent = text),
  typing: {
    target: () => (view === 'conversation' && session && convState !== 'closed' ? session.conversation : null),
    send: (conversation, on) => !!rt && rt.send({ type: 'typing', conversation, on }),
  },
  onSend: (text) => {
    if (creating) return false;
    if (view === 'start') {
      startWith(text);
      return false;
    }
    if (view !== 'conversation' || convState === 'closed' || !stream) return false;
    stream.post('message', text, { held: !!moving });
    return true;
  },
});
ui.message.addEventListener('input', () => (ui.composerError.textContent = ''));

// The first message starts the conversation.
async function startWith(text) {
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
    composer.value = '';
    await createConversation({ text, name: ui.name.value.trim(), email });
  } catch (e) {
    composer.value = text;
    ui.composerError.textContent = `Your message could not be sent: ${e.message}`;
  } finally {
    ui.send.disabled = false;
    composer.focus();
  }
}

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
  composer.focus();
});

function resetConversation() {
  if (rt) rt.stop();
  rt = null;
  session = null;
  stream = null;
  transcript.show(null);
  saveSession();
  agentName = '';
  present.clear();
  clearTimeout(leftTimer);
  position = null;
  convState = 'waiting';
  closedSeq = 0;
  ui.endedReason.textContent = '';
  typingLine.show(null);
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
