// The sidebar: the list "Conversations" (what the desk lists, each with the
// visitor, the last message, its state, who has it when it is not this agent, its
// transfer, its queue and unread count), the list "Queues" above it (each queue's
// waiting count and longest wait), and "Show closed conversations".
//
// Owns the queue figures (the server's `queues` event) and the closed
// conversations' paging cursors. Emits on the bus: 'open-request' (id) when an item
// is pressed.

import { el, clear, api, formatClock, formatDuration } from '/assets/util.js';
import { LIVE, visitorLabel } from '/assets/console-desk.js';
import { isOpen, timeLeft } from '/assets/console-transfers.js';

export function createList({ bus, session, desk, transfers, say }) {
  const $ = (id) => document.getElementById(id);
  const ui = { queues: $('queues'), list: $('conversations'), empty: $('list-empty'), history: $('history') };
  const nodes = new Map(); // id -> li
  let queueInfo = [];
  let cursors = null; // queue -> cursor of the closed conversations ('' first, null: no more)
  let due = false;

  // Renders once per turn of the event loop, however many changes came in it.
  function renderSoon() {
    if (due) return;
    due = true;
    queueMicrotask(() => {
      due = false;
      render();
    });
  }

  function render() {
    const items = desk.sorted();
    const focused = document.activeElement;
    const hadFocus = focused && ui.list.contains(focused) ? focused.closest('li') : null;
    const wanted = new Set(items.map((e) => e.s.id));
    for (const [id, li] of nodes) {
      if (!wanted.has(id)) {
        li.remove();
        nodes.delete(id);
      }
    }
    let cursor = ui.list.firstElementChild;
    for (const entry of items) {
      const li = renderItem(entry);
      if (li !== cursor) ui.list.insertBefore(li, cursor);
      else cursor = cursor.nextElementSibling;
    }
    if (hadFocus && hadFocus.isConnected && document.activeElement !== focused) {
      const b = hadFocus.querySelector('button');
      if (b) b.focus();
    }
    ui.empty.hidden = items.length > 0;
  }

  function tag(text, cls, attrs = {}) {
    return el('span', { class: `tag ${cls}`, text, ...attrs });
  }

  function stateTags(entry) {
    const s = entry.s;
    const tags = [];
    if (s.state === 'waiting') {
      const since = s.waiting_since ? ` ${formatDuration(Date.now() - s.waiting_since)}` : '';
      tags.push(tag(`Waiting${since}`, 'tag-waiting', { 'data-since': s.waiting_since || '' }));
      if (s.offline) tags.push(tag('Offline message', 'tag-offline'));
    } else if (s.state === 'active') {
      tags.push(tag('Active', 'tag-active'));
    } else if (s.state === 'transferring') {
      if (!isOpen(transfers.latest(s.id))) tags.push(tag('Transferring', 'tag-active'));
    } else if (s.state === 'transferred') {
      tags.push(tag(transfers.transferredText(s), 'tag-transferred'));
    } else {
      tags.push(tag(s.state === 'closed' ? 'Closed' : s.state === 'abandoned' ? 'Abandoned' : s.state, 'tag-closed'));
    }
    // Whose it is, when it is not this agent's: offered by, consulting, or history.
    if (s.agent && s.agent !== session.myName()) {
      tags.push(tag(LIVE.has(s.state) ? `With ${session.nameOf(s.agent)}` : `Was with ${session.nameOf(s.agent)}`, 'tag-owner'));
    }
    const inbound = transfers.inbound(s.id);
    if (inbound && LIVE.has(s.state)) tags.push(tag(`From ${inbound.origin_organization || inbound.to_peer}`, 'tag-partner'));
    const xt = transfers.tag(s.id);
    if (xt) {
      tags.push(xt.deadline
        ? tag(`${xt.text} · ${timeLeft(xt.deadline)}`, xt.cls, { 'data-deadline': xt.deadline, 'data-label': xt.text })
        : tag(xt.text, xt.cls));
    }
    if (s.queue) tags.push(tag(s.queue, 'tag-queue'));
    return tags;
  }

  function renderItem(entry) {
    const s = entry.s;
    let li = nodes.get(s.id);
    if (!li) {
      li = el('li', { class: 'conv-item', 'data-id': s.id });
      li.append(el('button', { type: 'button', class: 'conv-open', on: { click: () => bus.emit('open-request', s.id) } }));
      nodes.set(s.id, li);
    }
    const open = s.id === desk.openId;
    const button = li.firstElementChild;
    li.className = `conv-item state-${s.state}${entry.unread ? ' has-unread' : ''}${entry.fresh ? ' is-fresh' : ''}${open ? ' is-open' : ''}`;
    if (open) button.setAttribute('aria-current', 'true');
    else button.removeAttribute('aria-current');
    clear(button);
    const unread = entry.unread;
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
        ...stateTags(entry),
        unread > 0
          ? el('span', { class: 'unread' }, String(unread), el('span', { class: 'visually-hidden', text: unread === 1 ? ' unread message' : ' unread messages' }))
          : null,
        entry.fresh && !unread ? el('span', { class: 'new', text: 'New' }) : null,
      ),
    );
    return li;
  }

  function renderQueues() {
    clear(ui.queues);
    const mine = session.myQueues();
    for (const q of queueInfo) {
      if (mine.size && !mine.has(q.name)) continue;
      const text = q.waiting > 0 ? `${q.waiting} waiting · longest ${formatDuration(q.longest_wait_ms || 0)}` : 'nobody waiting';
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

  ui.history.addEventListener('click', async () => {
    const queues = [...session.myQueues()];
    if (!cursors) cursors = Object.fromEntries(queues.map((q) => [q, '']));
    ui.history.disabled = true;
    try {
      for (const q of queues) {
        const cursor = cursors[q];
        if (cursor === null || cursor === undefined) continue;
        const qs = new URLSearchParams({ queue: q, state: 'closed', limit: '20' });
        if (cursor) qs.set('before', cursor);
        const r = await api(`/api/conversations?${qs}`);
        desk.addHistory(r.conversations || []);
        cursors[q] = r.next || null;
      }
      ui.history.textContent = 'Show more closed conversations';
      ui.history.hidden = !Object.values(cursors).some((v) => v !== null);
    } catch (e) {
      say(`Closed conversations could not be loaded: ${e.message}`);
    } finally {
      ui.history.disabled = false;
    }
  });

  bus.on('changed', renderSoon);
  bus.on('enter', () => {
    cursors = null;
    ui.history.hidden = false;
    ui.history.textContent = 'Show closed conversations';
  });
  bus.on('leave', () => {
    clear(ui.list);
    nodes.clear();
    queueInfo = [];
    clear(ui.queues);
  });
  bus.on('tick', () => {
    // Waiting times and deadlines count down without a server round trip.
    for (const t of ui.list.querySelectorAll('.tag-waiting')) {
      const since = Number(t.dataset.since);
      if (since) t.textContent = `Waiting ${formatDuration(Date.now() - since)}`;
    }
    for (const t of ui.list.querySelectorAll('[data-deadline]')) {
      t.textContent = `${t.dataset.label} · ${timeLeft(Number(t.dataset.deadline))}`;
    }
  });

  return {
    // The server's `queues` event.
    setQueues(queues) {
      queueInfo = Array.isArray(queues) ? queues : [];
      renderQueues();
    },
    queue: (name) => queueInfo.find((q) => q.name === name) || null,
  };
}
