// The agent console: /console. This file wires the console's modules together and
// routes what the server says to them; each module owns its part of the page and
// its state (docs/web.md, "The console's modules"):
//
//   console-session.js       sign-in, sign-out, who is signed in
//   console-status.js        the Status control and the connection line
//   console-notices.js       chime, title count, the notice about other conversations
//   console-transfers.js     transfer records and history, requests awaiting an answer
//   console-desk.js          the conversations known, which are listed, unread counts
//   console-list.js          the Conversations and Queues lists
//   console-conversation.js  the open conversation: transcript, composer, details
//   console-panels.js        the transfer regions of the open conversation
//   console-dialog.js        the Transfer dialog
//   stream.js, composer.js   the conversation stream and composer shared with /chat
//
// On hello the server sends the agent's desk, then `conversation` summaries and
// `transfer` records as they change; the list is derived from them (console-desk.js).
// The console subscribes to the agent's own live conversations (unread counts,
// typing), to those offered to it, and to the open one; each stream resumes from
// the last sequence number it received.

import { Realtime } from '/assets/realtime.js';
import { Emitter } from '/assets/emitter.js';
import { createSession } from '/assets/console-session.js';
import { createStatus } from '/assets/console-status.js';
import { createNotices } from '/assets/console-notices.js';
import { createTransfers, isOpen } from '/assets/console-transfers.js';
import { createDesk, visitorLabel } from '/assets/console-desk.js';
import { createList } from '/assets/console-list.js';
import { createConversationView } from '/assets/console-conversation.js';
import { createTransferPanels } from '/assets/console-panels.js';
import { createTransferDialog } from '/assets/console-dialog.js';

const kTickMs = 1_000;
const TRANSFER_REPLIES = new Set([
  'transfer', 'consult', 'transfer.accept', 'transfer.decline', 'transfer.cancel', 'consult.join', 'consult.finish',
  'transfer.confirm', 'transfer.return',
]);

function main() {
  const bus = new Emitter();
  let rt = null;
  let ticker = null;
  const send = (msg) => !!rt && rt.send(msg);

  // First, so that the socket closes before the modules forget what they had.
  bus.on('leave', () => {
    if (rt) rt.stop();
    rt = null;
    clearInterval(ticker);
  });

  const status = createStatus({ send });
  const session = createSession({ bus, send, say: status.say });
  const notices = createNotices({ bus, session });
  const transfers = createTransfers({ bus, session, send });
  const desk = createDesk({ bus, session, transfers, notices, send });
  const list = createList({ bus, session, desk, transfers, say: status.say });
  let view = null;
  const panels = createTransferPanels({ bus, session, desk, transfers, notices, send, view: () => view });
  view = createConversationView({ bus, session, desk, transfers, panels, send });
  const dialog = createTransferDialog({ bus, session, desk, transfers, queueOf: list.queue, send, view: () => view });

  bus.on('enter', () => {
    notices.title(0);
    rt = new Realtime({
      hello: () => ({ type: 'hello', role: 'agent' }),
      onMessage,
      onState: (s) => {
        status.say(s === 'reconnecting' ? 'Connection lost. Reconnecting…' : '');
        if (s !== 'open') desk.disconnected();
      },
    });
    rt.start();
    clearInterval(ticker);
    ticker = setInterval(() => bus.emit('tick'), kTickMs);
  });
  bus.on('leave', () => {
    desk.clear();
    transfers.clear();
    notices.hide();
  });
  bus.on('open-request', (id) => {
    if (!desk.open(id)) return;
    notices.seen(id);
    transfers.loadHistory(id);
  });

  function onMessage(msg) {
    switch (msg.type) {
      case 'desk':
        if (msg.agent) status.set(msg.agent.status);
        desk.onDesk(msg);
        break;
      case 'conversation':
        if (msg.conversation) desk.upsert(msg.conversation, true);
        break;
      case 'queues':
        list.setQueues(msg.queues);
        break;
      case 'status':
        status.set(msg.status);
        break;
      case 'event':
      case 'synced':
      case 'ack':
      case 'typing': {
        const entry = desk.get(msg.conversation);
        if (entry) entry.stream.receive(msg);
        break;
      }
      case 'ok':
        if (msg.in_reply_to === 'close' || msg.in_reply_to === 'claim') view.showError('');
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

  // A transfer record changed: the desk looks at the conversation again (it may
  // join or leave the list), the agent is told, the views follow.
  function onTransfer(msg) {
    const r = transfers.receive(msg.transfer);
    if (!r) return;
    const raw = msg.transfer;
    const id = raw.conversation;
    desk.upsert(msg.conversation || null, true, id);
    const entry = desk.get(id);
    const who = entry ? visitorLabel(entry.s) : undefined;
    if (r.inbound) {
      // Received from a partner: news of a conversation of mine (its visitor being
      // sent back, sent back, or kept here after the partner refused).
      const settled = r.before && r.before.step === 'recalling' && raw.step !== 'recalling';
      if (settled && id !== desk.openId) {
        const org = raw.origin_organization || raw.to_peer;
        const text = raw.state === 'recalled' ? `${who || 'The visitor'} was sent back to ${org}.` : raw.reason || `${org} did not take ${who || 'the visitor'} back.`;
        notices.show(text, entry ? id : null);
      }
      bus.emit('changed', id);
      return;
    }
    if (!r.changed) return;
    const t = r.t;
    if (entry && transfers.roleIn(t) === 'target' && r.fresh && isOpen(t)) {
      if (id !== desk.openId) desk.arrived(id);
      else notices.chime();
    }
    if (id !== desk.openId) {
      const text = transfers.news(t, who);
      if (text) notices.show(text, entry ? id : null);
    }
    bus.emit('changed', id);
    dialog.transferChanged(id);
  }

  function onTransferReply(msg) {
    if (msg.in_reply_to === 'transfer.return') {
      panels.returned(msg);
      return;
    }
    const action = transfers.answered(msg.in_reply_to);
    dialog.answered(msg);
    const t = transfers.latest(msg.transfer.conversation);
    if (t && t.id === msg.transfer.id) t.busy = false;
    onTransfer({ transfer: msg.transfer });
    if (action && action.conversation === desk.openId) {
      bus.emit('changed', desk.openId);
      // The button pressed may be gone now (an accepted offer, a finished consult).
      const a = document.activeElement;
      if (!a || a === document.body || a.closest('[hidden]') || a.disabled) view.focusComposer();
    }
  }

  function onError(msg) {
    if (msg.in_reply_to === 'hello') {
      if (msg.code === 'unauthorized' || msg.code === 'forbidden') session.leave('Your session has ended. Please sign in again.');
      return;
    }
    if (TRANSFER_REPLIES.has(msg.in_reply_to)) {
      const text = msg.message || 'The server refused.';
      if (msg.in_reply_to === 'transfer.return') panels.notReturned(msg, text);
      else if (!dialog.refused(msg, text)) {
        const action = transfers.answered(msg.in_reply_to);
        panels.refused(msg.in_reply_to, action ? action.conversation : null, text);
      }
      return;
    }
    const entry = msg.conversation ? desk.get(msg.conversation) : null;
    if (entry && entry.stream.receive(msg)) return; // a message or note of ours
    if (msg.in_reply_to === 'subscribe' && entry) {
      entry.stream.subscribed = false;
      if (entry.s.id !== desk.openId) return;
    }
    if (msg.in_reply_to === 'status') status.revert();
    if (!entry || entry.s.id === desk.openId) view.showError(msg.message || 'Something went wrong.');
  }

  session.enter();
}

main();
