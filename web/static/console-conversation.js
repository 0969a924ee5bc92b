// The open conversation: its header (who, state, queue) and buttons ("Take
// conversation", Transfer, "Close conversation", "Save transcript"), the transcript
// (the shared TranscriptView of its stream), the typing line, the composer (the
// shared Composer, with "Internal note"), and the visitor's details.
//
// Owns the views of the open conversation; which one is open is the desk's. The
// transfer regions above the transcript are console-panels.js; this module calls
// their render. Emits on the bus: 'transfer-dialog' (null) when Transfer is pressed.

import { el, clear, download, formatClock, formatDateTime, formatDuration, shortBrowser } from '/assets/util.js';
import { TranscriptView, TypingLine } from '/assets/stream.js';
import { Composer } from '/assets/composer.js';
import { LIVE, visitorLabel } from '/assets/console-desk.js';
import { isOpen } from '/assets/console-transfers.js';

export function createConversationView({ bus, session, desk, transfers, panels, send }) {
  const $ = (id) => document.getElementById(id);
  const ui = {
    placeholder: $('placeholder'),
    section: $('conversation'),
    title: $('conv-title'),
    sub: $('conv-sub'),
    claim: $('claim'),
    transfer: $('transfer'),
    close: $('close'),
    exportBtn: $('export'),
    error: $('conv-error'),
    transcript: $('transcript'),
    typing: $('typing'),
    closedNote: $('closed-note'),
    composer: $('composer'),
    message: $('message'),
    noteMode: $('note-mode'),
    details: $('details'),
  };
  let offStream = [];

  const transcript = new TranscriptView(ui.transcript, {
    eventNode,
    pendingNode: (p) => eventNode({ kind: p.kind, author: { kind: 'agent', name: session.displayName() }, text: p.text, at: p.at }),
    pendingState: (p) => (p.failed ? `Not sent: ${p.error}` : 'Sending…'),
    loadingText: 'Loading the conversation…',
  });
  const typingLine = new TypingLine(ui.typing);
  const composer = new Composer({
    form: ui.composer,
    textarea: ui.message,
    onError: (text) => (ui.error.textContent = text),
    typing: {
      target: () => {
        const entry = current();
        return entry && !ui.noteMode.checked && canMessage(entry.s) ? entry.s.id : null;
      },
      send: (conversation, on) => send({ type: 'typing', conversation, on }),
    },
    onSend: (text) => {
      const entry = current();
      if (!entry) return false;
      entry.stream.post(ui.noteMode.checked ? 'note' : 'message', text);
      return true;
    },
  });

  function current() {
    return desk.openId ? desk.get(desk.openId) : null;
  }

  function canMessage(s) {
    if (!LIVE.has(s.state) || s.state === 'waiting') return false;
    return s.agent === session.myName() || (s.consultant === session.myName() && !!s.consultant_joined);
  }

  function eventNode(e) {
    const a = e.author || {};
    if (e.kind === 'message' || e.kind === 'note') {
      // Written at a partner organization before the visitor was transferred here:
      // the author is "Alice (Acme Bank)", of kind system.
      const partner = a.kind === 'system';
      const who = a.name || (a.kind === 'visitor' ? 'Visitor' : a.id || 'Agent');
      const kindClass = e.kind === 'note'
        ? `note${partner ? ' partner-note' : ''}`
        : a.kind === 'agent' ? 'from-agent' : partner ? 'from-agent from-partner' : 'from-visitor';
      return el(
        'div',
        { class: `msg ${kindClass}`, 'data-seq': e.seq },
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
    }
    return el('p', { class: `sys sys-${e.kind}`, 'data-seq': e.seq }, el('span', { text: e.text || e.kind }), ' ', el('time', { text: formatClock(e.at) }));
  }

  function show(entry) {
    for (const off of offStream) off();
    offStream = [];
    composer.stopTyping();
    ui.error.textContent = '';
    ui.noteMode.checked = false;
    ui.noteMode.disabled = false;
    composer.value = '';
    updateComposerMode();
    transcript.show(entry.stream);
    typingLine.show(entry.stream.typing);
    offStream = [
      entry.stream.on('typing', (t) => typingLine.show(t)),
      entry.stream.on('event', (e) => {
        // Someone joined or left: a transfer may have ended; its record is in the history.
        if (entry.stream.synced && (e.kind === 'joined' || e.kind === 'left')) transfers.reloadSoon(entry.s.id);
      }),
    ];
    render();
    ui.placeholder.hidden = true;
    ui.section.hidden = false;
    if (!ui.composer.hidden) composer.focus();
  }

  function hide() {
    for (const off of offStream) off();
    offStream = [];
    transcript.show(null);
    ui.section.hidden = true;
    ui.placeholder.hidden = false;
  }

  function render() {
    const entry = current();
    if (!entry) return;
    const s = entry.s;
    const mine = s.agent === session.myName();
    const live = LIVE.has(s.state);
    const active = live && s.state !== 'waiting' && mine;
    const t = transfers.latest(s.id);
    const peerOut = t && t.kind === 'peer' && transfers.roleIn(t) === 'sender' ? t.destination || session.partnerName(t.to_peer) : '';
    const withWhom = session.nameOf(s.agent);
    const stateText = {
      waiting: `Waiting${s.place ? `, number ${s.place} in line` : ''}`,
      active: mine ? 'Active, with you' : `Active, with ${withWhom}`,
      transferring: peerOut
        ? `Being transferred to ${peerOut}`
        : mine ? 'Being transferred' : s.agent ? `With ${withWhom}, being transferred` : 'Being transferred here, the visitor has not arrived yet',
      closed: 'Closed',
      transferred: transfers.transferredText(s),
      abandoned: 'Abandoned',
    }[s.state] || s.state;
    ui.title.textContent = visitorLabel(s);
    ui.sub.textContent = `${stateText} · ${s.queue || ''}`;
    ui.claim.hidden = s.state !== 'waiting';
    ui.transfer.hidden = !active || isOpen(t);
    ui.close.hidden = !active;
    ui.composer.hidden = !live;
    ui.closedNote.hidden = live;
    ui.closedNote.textContent = s.state === 'closed'
      ? 'This conversation is closed.'
      : s.state === 'transferred'
        ? `${transfers.transferredText(s)}. This conversation goes on there.`
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
    if (!live) composer.stopTyping();
    updateComposerMode();
    renderDetails(entry);
    panels.render(entry);
  }

  function waitingText(entry) {
    const s = entry.s;
    if (s.state === 'waiting') return `${formatDuration(Date.now() - (s.waiting_since || s.created_at))} (still waiting)`;
    const joined = entry.stream.sorted().find((e) => e.kind === 'joined');
    if (joined && s.created_at) return formatDuration(joined.at - s.created_at);
    return '—';
  }

  function renderDetails(entry) {
    const s = entry.s;
    const v = s.visitor || {};
    clear(ui.details);
    const row = (term, value, attrs = {}) => ui.details.append(el('dt', { text: term }), el('dd', attrs, value));
    row('Name', v.name || 'Not given');
    row('E-mail', v.email ? el('a', { href: `mailto:${v.email}`, text: v.email }) : 'Not given');
    if (v.page && /^https?:\/\//i.test(v.page)) {
      row('Page', el('a', { href: v.page, target: '_blank', rel: 'noopener noreferrer', text: v.page }));
    } else {
      row('Page', v.page || 'Unknown');
    }
    row('Browser', el('span', { title: v.browser || '', text: shortBrowser(v.browser) || 'Unknown' }));
    row('Time waiting', waitingText(entry), { 'data-waiting': '' });
    row('Started', formatDateTime(s.created_at));
    row('Queue', s.queue || '');
    if (s.offline) row('Left', 'As an offline message');
    if (s.close_reason) row('Ended', s.close_reason);
  }

  function updateComposerMode() {
    const note = ui.noteMode.checked;
    ui.composer.classList.toggle('note-mode', note);
    ui.message.placeholder = note ? 'Write an internal note (only agents see it)…' : 'Reply to the visitor…';
  }

  ui.noteMode.addEventListener('change', () => {
    updateComposerMode();
    composer.stopTyping();
    composer.focus();
  });

  function request(msg) {
    if (!send(msg)) ui.error.textContent = 'Not connected; try again in a moment.';
  }

  ui.claim.addEventListener('click', () => desk.openId && request({ type: 'claim', conversation: desk.openId }));
  ui.close.addEventListener('click', () => {
    if (!desk.openId) return;
    composer.stopTyping();
    request({ type: 'close', conversation: desk.openId });
  });
  ui.transfer.addEventListener('click', () => bus.emit('transfer-dialog', null));
  ui.exportBtn.addEventListener('click', async () => {
    const id = desk.openId;
    if (!id) return;
    try {
      await download(`/api/conversations/${encodeURIComponent(id)}/transcript?format=text`, null, `conversation-${id}.txt`);
    } catch (e) {
      ui.error.textContent = `The transcript could not be saved: ${e.message}`;
    }
  });

  bus.on('open', (id) => show(desk.get(id)));
  bus.on('changed', (id) => {
    if (desk.openId && (id === null || id === desk.openId)) render();
  });
  bus.on('leave', () => {
    composer.stopTyping();
    hide();
  });
  bus.on('tick', () => {
    const entry = current();
    if (!entry) return;
    const w = ui.details.querySelector('[data-waiting]');
    if (w) w.textContent = waitingText(entry);
    panels.tick(entry);
  });

  return {
    render,
    // Puts the focus back in the message box, when there is one to type in.
    focusComposer() {
      if (!ui.composer.hidden) composer.focus();
    },
    composerShown: () => !ui.composer.hidden,
    showError(text) {
      ui.error.textContent = text;
    },
  };
}
