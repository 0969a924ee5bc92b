// The transfer regions of the open conversation, above its transcript, and its
// transfer history in the details panel (docs/web.md, "Transfers, as each agent
// sees them"):
//   "Transfer request"        offered to me: the note, Accept, Decline (with a reason)
//   "Transfer status"         a transfer I sent, or one that ended, in words
//   "Transferred to you"      the note that came with a conversation given to me
//   "Transferred from ORG"    received from a partner: the note, "Send back to ORG"
//   "Consultation with NAME"  a warm consult: private notes, and its buttons
//   list "Transfers"          the history
//
// Owns what these regions show beyond the transfer records: their error lines, the
// consultation notes being written, the "Send back" requests waiting for their
// answer. `view()` is the open conversation's view (focus and its error line).

import { el, clear, formatClock } from '/assets/util.js';
import { Composer } from '/assets/composer.js';
import { LIVE, visitorLabel } from '/assets/console-desk.js';
import { isOpen, timeLeft, choosingQueue } from '/assets/console-transfers.js';

export function createTransferPanels({ bus, session, desk, transfers, notices, send, view }) {
  const $ = (id) => document.getElementById(id);
  const ui = {
    offer: $('offer'), offerTime: $('offer-time'), offerText: $('offer-text'), offerNote: $('offer-note'),
    offerReason: $('offer-reason'), offerAccept: $('offer-accept'), offerDecline: $('offer-decline'), offerError: $('offer-error'),
    xfer: $('xfer'), xferText: $('xfer-text'), xferTime: $('xfer-time'), xferCancel: $('xfer-cancel'),
    xferChoose: $('xfer-choose'), xferDismiss: $('xfer-dismiss'),
    handover: $('handover'), handoverText: $('handover-text'), handoverNote: $('handover-note'), handoverDismiss: $('handover-dismiss'),
    partner: $('partner'), partnerTitle: $('partner-title'), partnerText: $('partner-text'), partnerNote: $('partner-note'),
    partnerReturn: $('partner-return'), partnerError: $('partner-error'),
    consult: $('consult'), consultTitle: $('consult-title'), consultTime: $('consult-time'), consultText: $('consult-text'),
    consultLog: $('consult-log'), consultForm: $('consult-form'), consultNote: $('consult-note'),
    consultNoteLabel: $('consult-note-label'), consultJoin: $('consult-join'), consultHandover: $('consult-handover'),
    consultEnd: $('consult-end'), consultLeave: $('consult-leave'), consultError: $('consult-error'),
    history: $('transfer-history'), historyEmpty: $('transfer-history-empty'),
  };
  const returning = new Set(); // conversations whose "Send back" waits for its answer
  let shownId = null; // the conversation the regions were last drawn for
  let offStream = [];

  const nameOf = (agent) => session.nameOf(agent);
  const current = () => (desk.openId ? desk.get(desk.openId) : null);
  const latest = () => (desk.openId ? transfers.latest(desk.openId) : null);
  const sentence = (text) => `${text.charAt(0).toUpperCase()}${text.slice(1)}.`.replace(/\.\.$/, '.');

  // Which regions the open conversation shows: the offer to answer, the
  // consultation, the state of a transfer (sent, or ended), the note that came
  // with a conversation transferred to this agent, where a partner's visitor came from.
  function render(entry) {
    if (entry.s.id !== shownId) switchTo(entry);
    const s = entry.s;
    const t = transfers.latest(s.id);
    const role = transfers.roleIn(t);
    const showOffer = !!t && role === 'target' && t.kind === 'agent' && t.state === 'offered';
    const showConsult = !!t && !!role && t.kind === 'consult' && isOpen(t);
    const showBar = !!t && !!role && !showOffer && !showConsult && !t.seen && !!barText(t);
    ui.offer.hidden = !showOffer;
    ui.consult.hidden = !showConsult;
    ui.xfer.hidden = !showBar;
    if (showOffer) renderOffer(t);
    else ui.offerError.textContent = '';
    if (showConsult) renderConsult(entry, t);
    else ui.consultError.textContent = '';
    if (showBar) renderBar(t);
    const received = !showOffer && !showConsult ? receivedTransfer(entry) : null;
    ui.handover.hidden = !received;
    if (received) renderHandover(received);
    renderPartner(entry);
    tick(entry);
    renderHistory(entry);
  }

  // Another conversation is open: what was typed or said about the last one goes.
  function switchTo(entry) {
    shownId = entry.s.id;
    ui.offerReason.value = '';
    ui.consultNote.value = '';
    ui.partnerError.textContent = '';
    for (const off of offStream) off();
    const redraw = () => !ui.consult.hidden && renderConsultLog(entry);
    offStream = [
      entry.stream.on('event', (e) => e.kind === 'note' && redraw()),
      entry.stream.on('pending', redraw),
      entry.stream.on('pending-state', redraw),
    ];
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
    ui.offerText.textContent = `${nameOf(t.from_agent)} asks you to take over this conversation. The transcript is below; the visitor does not know yet.`;
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
    const dest = t.destination || session.partnerName(t.to_peer);
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

  function barText(t) {
    const role = transfers.roleIn(t);
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
        cancelled: 'You called the transfer off. The conversation stays with you.',
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

  function renderBar(t) {
    const text = barText(t);
    if (ui.xferText.textContent !== text) ui.xferText.textContent = text;
    const sender = transfers.roleIn(t) === 'sender';
    const offered = sender && t.state === 'offered';
    ui.xfer.className = `xfer xfer-${t.state}`;
    ui.xferCancel.hidden = !offered;
    ui.xferCancel.disabled = t.busy;
    ui.xferChoose.hidden = !(sender && choosingQueue(t));
    ui.xferDismiss.hidden = offered || (t.kind === 'peer' && isOpen(t));
  }

  function renderConsult(entry, t) {
    const role = transfers.roleIn(t);
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
    renderConsultLog(entry);
  }

  // The notes written since the consultation began, and those on their way.
  function renderConsultLog(entry) {
    const t = transfers.latest(entry.s.id);
    if (!t || t.kind !== 'consult') return;
    const since = t.created_at || 0;
    const notes = entry.stream.sorted().filter((e) => e.kind === 'note' && e.at >= since);
    const pending = [...entry.stream.pending.values()].filter((p) => p.kind === 'note');
    const log = ui.consultLog;
    const stick = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    clear(log);
    for (const e of notes) log.append(consultLine(e.author && e.author.name, e.text, e.at, false));
    for (const p of pending) log.append(consultLine(session.displayName(), p.text, p.at, true));
    if (!notes.length && !pending.length) log.append(el('p', { class: 'muted', text: 'No notes yet.' }));
    if (stick) log.scrollTop = log.scrollHeight;
  }

  function consultLine(who, text, at, pending) {
    return el(
      'p',
      { class: `consult-line${pending ? ' msg-pending' : ''}` },
      el('span', { class: 'msg-author', text: who || 'Agent' }),
      ' ',
      el('time', { text: formatClock(at) }),
      el('span', { class: 'consult-text-line', text: text || '' }),
    );
  }

  // The transfer that made this conversation this agent's: the latest accepted
  // transfer to me or to a queue, or a consultation handed over to me.
  function receivedTransfer(entry) {
    const s = entry.s;
    const me = session.myName();
    if (s.agent !== me || !LIVE.has(s.state)) return null;
    const list = transfers.history(s.id).filter((t) => t.state === 'accepted' || t.state === 'completed')
      .sort((a, b) => a.updated_at - b.updated_at);
    const t = list[list.length - 1];
    if (!t || t.from_agent === me) return null;
    if (t.kind !== 'queue' && t.to_agent !== me) return null;
    if (entry.handoverSeen === t.id) return null;
    return t;
  }

  function renderHandover(t) {
    const from = nameOf(t.from_agent);
    ui.handoverText.textContent = t.kind === 'queue'
      ? `${from} passed this conversation to the ${t.to_queue} queue, and it came to you.`
      : t.kind === 'consult' ? `${from} handed this conversation over to you.` : `${from} transferred this conversation to you.`;
    if (ui.handoverNote.dataset.id !== t.id) {
      clear(ui.handoverNote);
      const note = noteFigure(t);
      if (note) ui.handoverNote.append(note);
      ui.handoverNote.dataset.id = t.id;
    }
  }

  function renderPartner(entry) {
    const t = transfers.inbound(entry.s.id);
    ui.partner.hidden = !t;
    if (!t) {
      ui.partnerError.textContent = '';
      return;
    }
    const s = entry.s;
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

  function tick(entry) {
    const t = transfers.latest(entry.s.id);
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

  function renderHistory(entry) {
    const list = transfers.history(entry.s.id);
    clear(ui.history);
    for (const t of list) {
      const from = nameOf(t.from_agent);
      const dest = t.destination || session.partnerName(t.to_peer);
      const what = {
        agent: `${from} to ${nameOf(t.to_agent)}`,
        queue: `${from} to the ${t.to_queue} queue`,
        consult: `${from} consulted ${nameOf(t.to_agent)}`,
        peer: t.direction === 'in'
          ? `${t.from_agent} at ${t.origin_organization || t.to_peer} to ${t.to_queue ? `the ${t.to_queue} queue` : 'us'}`
          : `${from} to ${dest}${t.to_queue ? ` (${t.to_queue})` : ''}`,
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
      ui.history.append(
        el(
          'li',
          { class: `th th-${t.state}` },
          el('p', { class: 'th-top' }, el('span', { class: 'th-what', text: what }), ' ', el('time', { text: formatClock(t.created_at) })),
          el('p', { class: 'th-state' }, el('span', { class: 'th-tag', text: state }), t.reason ? ` ${t.reason}` : ''),
          t.note ? el('p', { class: 'th-note', text: `Note: ${t.note}` }) : null,
        ),
      );
    }
    ui.historyEmpty.hidden = list.length > 0;
  }

  // --- the buttons ------------------------------------------------------------------

  function act(type, extra = {}) {
    ui.offerError.textContent = '';
    ui.consultError.textContent = '';
    if (!transfers.act(type, latest(), extra)) {
      (type.startsWith('consult') ? ui.consultError : ui.offerError).textContent = 'Not connected; try again in a moment.';
    }
  }

  ui.offerAccept.addEventListener('click', () => act('transfer.accept'));
  ui.offerDecline.addEventListener('click', () => {
    const reason = ui.offerReason.value.trim();
    act('transfer.decline', reason ? { reason } : {});
  });
  ui.offerReason.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter') {
      ev.preventDefault();
      ui.offerDecline.click();
    }
  });
  ui.xferCancel.addEventListener('click', () => act('transfer.cancel'));
  ui.xferChoose.addEventListener('click', () => {
    const t = latest();
    if (choosingQueue(t)) bus.emit('transfer-dialog', t);
  });
  ui.xferDismiss.addEventListener('click', () => {
    if (desk.openId) transfers.dismiss(desk.openId);
    view().focusComposer();
  });
  ui.handoverDismiss.addEventListener('click', () => {
    const entry = current();
    const t = entry && receivedTransfer(entry);
    if (t) entry.handoverSeen = t.id;
    if (entry) render(entry);
    view().focusComposer();
  });
  ui.consultJoin.addEventListener('click', () => act('consult.join'));
  ui.consultHandover.addEventListener('click', () => act('consult.finish', { hand_over: true }));
  ui.consultEnd.addEventListener('click', () => act('consult.finish', { hand_over: false }));
  ui.consultLeave.addEventListener('click', () => act('consult.finish', { hand_over: false }));

  // Notes to the colleague: ordinary internal notes, shown here since the consult began.
  new Composer({
    form: ui.consultForm,
    textarea: ui.consultNote,
    tooLong: 'That note is too long. Please split it into shorter ones.',
    onError: (text) => (ui.consultError.textContent = text),
    onSend: (text) => {
      const entry = current();
      if (!entry) return false;
      entry.stream.post('note', text);
      return true;
    },
  });

  ui.partnerReturn.addEventListener('click', () => {
    const entry = current();
    if (!entry || returning.has(entry.s.id)) return;
    ui.partnerError.textContent = '';
    if (!send({ type: 'transfer.return', conversation: entry.s.id })) {
      ui.partnerError.textContent = 'Not connected; try again in a moment.';
      return;
    }
    transfers.expect('transfer.return', entry.s.id);
    returning.add(entry.s.id);
    render(entry);
  });

  bus.on('leave', () => {
    returning.clear();
    shownId = null;
  });

  return {
    render,
    tick,

    // The answer to "Send back" (transfer.return).
    returned(msg) {
      const action = transfers.answered('transfer.return');
      const t = msg.transfer;
      const id = (t && t.conversation) || (action && action.conversation);
      if (id) returning.delete(id);
      if (t && t.conversation) transfers.merge(t);
      if (id && id === desk.openId) {
        bus.emit('changed', id);
        view().focusComposer();
      } else if (t && t.conversation) {
        const entry = desk.get(t.conversation);
        notices.show(`${entry ? visitorLabel(entry.s) : 'The visitor'} is being sent back to ${t.origin_organization || 'the partner'}.`, null);
      }
    },

    notReturned(msg, text) {
      const action = transfers.answered('transfer.return');
      const id = action ? action.conversation : msg.conversation;
      if (id) returning.delete(id);
      if (id && id === desk.openId) {
        ui.partnerError.textContent = `${sentence(text)} The conversation stays with you.`;
        bus.emit('changed', id);
      } else {
        notices.show(sentence(text), null);
      }
    },

    // A request from these regions was refused: said where it was made.
    refused(type, id, text) {
      if (id && id === desk.openId) {
        const where = type.startsWith('consult') ? ui.consultError : type === 'transfer.cancel' ? null : ui.offerError;
        if (where) where.textContent = sentence(text);
        else view().showError(sentence(text));
        bus.emit('changed', id);
      } else {
        notices.show(text, null);
      }
    },
  };
}
