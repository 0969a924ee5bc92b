// The `dialog` "Transfer": destinations grouped as Agents, Queues and Partner
// organizations, a Note, Transfer, "Consult first" (for an agent) and Cancel. The
// dialog stays open until the server answers, and shows a refusal in it.
//
// Picking a partner sends the offer at once; the partner's answer (its queues, with
// their wait figures) comes as a `transfer` event and is offered in the group
// "Queues at NAME"; Transfer then confirms a queue with the note.
//
// Owns the request the dialog waits for and the partner it is transferring to.

import { el, formatDuration, utf8Bytes, kMaxMessageBytes } from '/assets/util.js';
import { isOpen } from '/assets/console-transfers.js';

const kDialogAnswerMs = 15_000;
const DIALOG_REQUESTS = new Set(['transfer', 'consult', 'transfer.confirm']);

export function createTransferDialog({ bus, session, desk, transfers, queueOf, send, view }) {
  const $ = (id) => document.getElementById(id);
  const ui = {
    dialog: $('transfer-dialog'),
    form: $('transfer-form'),
    agents: $('transfer-agents'),
    queues: $('transfer-queues'),
    partners: $('transfer-partners'),
    peerQueues: $('transfer-peer-queues'),
    peerQueuesTitle: $('transfer-peer-queues-title'),
    note: $('transfer-note'),
    result: $('transfer-result'),
    cancel: $('transfer-cancel'),
    consult: $('transfer-consult'),
    confirm: $('transfer-confirm'),
    consultHint: $('transfer-consult-hint'),
  };
  let request = null; // {type, conversation, timer}: the answer the dialog waits for
  let peer = null; // {conversation, partner, display, staleId}: transferring to a partner

  function destination(value, label, detail, group = 'destination', onChange = updateButtons) {
    const id = `dest-${value.replace(/[^a-z0-9_-]/gi, '_')}`;
    return el(
      'div',
      { class: 'dest-option' },
      el('input', { type: 'radio', name: group, id, value, on: { change: onChange } }),
      el('label', { for: id }, el('span', { text: label }), detail ? el('span', { class: 'muted', text: ` ${detail}` }) : null),
    );
  }

  // "(nobody waiting · 1 agent online)": a partner queue's wait figures.
  function peerQueueDetail(q) {
    const waiting = q.waiting > 0 ? `${q.waiting} waiting, longest ${formatDuration(q.longest_wait_ms || 0)}` : 'nobody waiting';
    const n = q.agents_online || 0;
    const online = n === 0 ? 'no agent online' : n === 1 ? '1 agent online' : `${n} agents online`;
    return `(${waiting} · ${online})`;
  }

  function picked() {
    const radio = ui.dialog.querySelector('input[name=destination]:checked');
    if (!radio) return null;
    const [kind, ...rest] = radio.value.split(':');
    return { kind, name: rest.join(':') };
  }

  function updateButtons() {
    const d = picked();
    const agent = !!d && d.kind === 'agent';
    ui.consult.hidden = !agent;
    ui.consultHint.hidden = !agent;
    if (ui.result.dataset.kind === 'pick') say('');
  }

  function say(text, kind = '') {
    ui.result.textContent = text;
    ui.result.dataset.kind = kind;
  }

  function clearGroup(fs) {
    for (const child of [...fs.children]) if (child.tagName !== 'LEGEND') child.remove();
  }

  // Opens the dialog for the open conversation. `resume`: an open transfer of it
  // to a partner, to go on with (choose the partner's queue).
  function open(resume) {
    const me = session.me;
    if (!me) return;
    for (const fs of [ui.agents, ui.queues, ui.partners, ui.peerQueues]) clearGroup(fs);
    ui.peerQueues.hidden = true;
    peer = null;
    const agents = me.agents || [];
    if (agents.length === 0) ui.agents.append(el('p', { class: 'muted', text: 'No other agents.' }));
    for (const a of agents) ui.agents.append(destination(`agent:${a.name}`, a.display_name || a.name, ''));
    for (const q of me.queues || []) {
      const info = queueOf(q);
      let detail = '';
      if (info) {
        detail = info.waiting ? `(${info.waiting} waiting` : '(nobody waiting';
        detail += info.online ? ')' : ', no agent online)';
      }
      ui.queues.append(destination(`queue:${q}`, q, detail));
    }
    // Partners: picking one sends the offer at once (its own radio group, so that
    // arrowing through colleagues and queues never reaches it by accident).
    const partners = me.partners || [];
    if (partners.length === 0) ui.partners.append(el('p', { class: 'muted', text: 'No partner organizations are set up on this server.' }));
    for (const p of partners) ui.partners.append(destination(`partner:${p.name}`, p.display_name || p.name, '', 'partner', onPartnerPicked));
    if (!resume) ui.note.value = '';
    say('');
    endRequest();
    if (resume) {
      const radio = [...ui.partners.querySelectorAll('input[name=partner]')].find((r) => r.value === `partner:${resume.to_peer}`);
      if (radio) radio.checked = true;
      peer = { conversation: resume.conversation, partner: resume.to_peer, display: resume.destination || session.partnerName(resume.to_peer) };
    }
    updateButtons();
    renderPeer();
    ui.dialog.showModal();
    const first = resume ? ui.peerQueues.querySelector('input[type=radio]') || ui.note : ui.dialog.querySelector('input[type=radio]');
    if (first) first.focus();
  }

  // A partner was picked: ask it (the offer). Its queues come back in a transfer event.
  function onPartnerPicked(ev) {
    const radio = ev.target;
    const id = desk.openId;
    if (!radio.checked || peer || !id) return;
    const name = radio.value.slice('partner:'.length);
    for (const r of ui.dialog.querySelectorAll('input[name=destination]')) r.checked = false;
    updateButtons();
    const before = transfers.latest(id);
    peer = { conversation: id, partner: name, display: session.partnerName(name), staleId: before ? before.id : '' };
    if (!sendRequest({ type: 'transfer', conversation: id, to: { peer: name } })) {
      peer = null;
      radio.checked = false;
      return;
    }
    renderPeer();
  }

  // The open transfer to the partner picked in the dialog, if any.
  function peerTransfer() {
    if (!peer) return null;
    const t = transfers.latest(peer.conversation);
    if (!t || t.id === peer.staleId) return null;
    return t.kind === 'peer' && t.to_peer === peer.partner && transfers.roleIn(t) === 'sender' ? t : null;
  }

  function unpickPartner() {
    peer = null;
    for (const r of ui.dialog.querySelectorAll('input[name=partner]')) r.checked = false;
  }

  // The dialog while transferring to a partner: asking, then the partner's queues.
  function renderPeer() {
    for (const r of ui.dialog.querySelectorAll('input[name=destination], input[name=partner]')) r.disabled = !!peer;
    if (!peer) {
      ui.peerQueues.hidden = true;
      return;
    }
    const t = peerTransfer();
    const who = peer.display;
    if (t && !isOpen(t)) {
      // Refused, unreachable, or over: say why; the dialog is free again.
      const reason = t.reason || `${who} could not take the visitor.`;
      endRequest();
      unpickPartner();
      renderPeer();
      say(`${reason} The conversation stays with you.`);
      return;
    }
    const queues = t && t.state === 'offering' && Array.isArray(t.queues) ? t.queues : [];
    ui.peerQueuesTitle.textContent = `Queues at ${who}`;
    if (!queues.length) {
      ui.peerQueues.hidden = true;
      say(`Asking ${who} which of its queues can take this visitor…`, 'peer');
      return;
    }
    const radios = () => [...ui.peerQueues.querySelectorAll('input[name=peer-queue]')];
    const checked = ui.peerQueues.querySelector('input[name=peer-queue]:checked');
    const keep = checked ? checked.value : '';
    const shown = radios().map((r) => r.value).join('|');
    if (shown !== queues.map((q) => `peer-queue:${q.name}`).join('|') || ui.peerQueues.dataset.id !== t.id) {
      clearGroup(ui.peerQueues);
      for (const q of queues) {
        ui.peerQueues.append(destination(`peer-queue:${q.name}`, q.display_name || q.name, peerQueueDetail(q), 'peer-queue', () => {
          if (ui.result.dataset.kind === 'pick') say('');
        }));
      }
      const again = keep && radios().find((r) => r.value === keep);
      if (again) again.checked = true;
      ui.peerQueues.dataset.id = t.id;
    }
    const wasHidden = ui.peerQueues.hidden;
    ui.peerQueues.hidden = false;
    if (ui.result.dataset.kind === 'peer' || !ui.result.textContent) {
      say(`${who} can take this visitor. Pick one of its queues, add a note for their agent, and press Transfer.`, 'peer-ready');
    }
    if (wasHidden && ui.dialog.open && document.activeElement && document.activeElement.name === 'partner') {
      const first = ui.peerQueues.querySelector('input[type=radio]');
      if (first) first.focus();
    }
  }

  ui.cancel.addEventListener('click', () => {
    endRequest();
    ui.dialog.close();
  });
  ui.dialog.addEventListener('close', () => {
    endRequest();
    peer = null;
  });

  ui.form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const note = ui.note.value.trim();
    if (peer) {
      const t = peerTransfer();
      const q = ui.peerQueues.querySelector('input[name=peer-queue]:checked');
      if (!t || !isOpen(t) || ui.peerQueues.hidden) {
        say(`Still waiting for ${peer.display} to answer…`, 'peer');
        return;
      }
      if (!q) {
        say(`Pick a queue at ${peer.display}.`, 'pick');
        return;
      }
      sendRequest({ type: 'transfer.confirm', transfer: t.id, queue: q.value.slice('peer-queue:'.length), note }, t.conversation);
      return;
    }
    const d = picked();
    if (!d) {
      say('Pick where the conversation should go.', 'pick');
      return;
    }
    const to = d.kind === 'agent' ? { agent: d.name } : { queue: d.name };
    sendRequest({ type: 'transfer', conversation: desk.openId, to, note });
  });

  ui.consult.addEventListener('click', () => {
    const d = picked();
    if (!d || d.kind !== 'agent') return;
    sendRequest({ type: 'consult', conversation: desk.openId, agent: d.name, note: ui.note.value.trim() });
  });

  // Sends a request of the dialog and waits for its answer. Returns whether it went out.
  function sendRequest(msg, conversation = msg.conversation) {
    if (request || !conversation) return false;
    if (msg.note && utf8Bytes(msg.note) > kMaxMessageBytes) {
      say('The note is too long. Please shorten it.');
      return false;
    }
    if (!send(msg)) {
      say('Not connected; try again in a moment.');
      return false;
    }
    const toPeer = msg.type === 'transfer.confirm' && peer ? peer.display : '';
    say(msg.type === 'consult' ? 'Asking for a consultation…' : toPeer ? `Sending the conversation to ${toPeer}…` : 'Transferring…');
    ui.confirm.disabled = true;
    ui.consult.disabled = true;
    request = {
      type: msg.type,
      conversation,
      timer: setTimeout(() => {
        endRequest();
        say('The server did not answer. The conversation stays with you; try again.');
      }, kDialogAnswerMs),
    };
    return true;
  }

  function endRequest() {
    if (request) clearTimeout(request.timer);
    request = null;
    ui.confirm.disabled = false;
    ui.consult.disabled = false;
  }

  bus.on('transfer-dialog', (resume) => open(resume));
  bus.on('leave', () => {
    if (ui.dialog.open) ui.dialog.close();
  });

  return {
    // A transfer changed: the dialog follows the partner's answer.
    transferChanged(id) {
      if (ui.dialog.open && peer && peer.conversation === id) renderPeer();
    },

    // `ok` for a request of the dialog: it closes (but an offer to a partner,
    // whose queues are picked in it next).
    answered(msg) {
      if (!request || !DIALOG_REQUESTS.has(msg.in_reply_to)) return;
      endRequest();
      if (msg.in_reply_to === 'transfer' && msg.transfer && msg.transfer.kind === 'peer') return;
      if (ui.dialog.open) ui.dialog.close();
      view().focusComposer();
    },

    // `error` for a request of the dialog: said in it. Returns whether it was one.
    refused(msg, text) {
      if (!DIALOG_REQUESTS.has(msg.in_reply_to)) return false;
      if (!request || !ui.dialog.open) {
        view().showError(text);
        return true;
      }
      endRequest();
      if (msg.in_reply_to === 'transfer' && peer) {
        // The offer did not go out: the partner can be picked again.
        unpickPartner();
        renderPeer();
      }
      say(`${text.charAt(0).toUpperCase()}${text.slice(1)}. The conversation stays with you.`);
      return true;
    },
  };
}
