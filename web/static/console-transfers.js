// Transfers as this agent knows them: for each conversation, the latest transfer
// it is part of (as sender or target), and the conversation's transfer history
// (GET /api/conversations/ID/transfers merged with the `transfer` events that came
// live). Also the requests waiting for their answer (accept, decline, cancel,
// consult.*), so that their buttons stay disabled until it comes.
//
// Nothing here touches the page but the bus: 'transfer-changed' (id) when a history
// that was loaded changed what is known of conversation id, 'changed' (id) when a
// request about it went out or was answered.

import { api, formatDuration } from '/assets/util.js';

const OPEN_TRANSFER = new Set(['offered', 'consulting', 'joined', 'offering', 'moving']);
const kHistoryDelayMs = 300;

export function isOpen(t) {
  return !!t && OPEN_TRANSFER.has(t.state);
}

// "18 s left", "2 min left", "time is up".
export function timeLeft(deadline) {
  const ms = deadline - Date.now();
  if (ms <= 0) return 'time is up';
  if (ms < 60_000) return `${Math.ceil(ms / 1000)} s left`;
  return `${formatDuration(ms)} left`;
}

// A transfer to a partner waiting for its sender to choose the partner's queue.
export function choosingQueue(t) {
  return !!t && t.kind === 'peer' && t.state === 'offering' && !t.to_queue && Array.isArray(t.queues) && t.queues.length > 0;
}

export function createTransfers({ bus, session, send }) {
  // Conversation id -> the latest transfer of it that involves this agent, with
  // `localDeadline` (on this clock), `seen` (its outcome was dismissed) and
  // `busy` (a request about it waits for its answer).
  const latestOf = new Map();
  // Conversation id -> Map(transfer id -> transfer).
  const historyOf = new Map();
  const historyTimers = new Map();
  const actions = new Map(); // request type -> {conversation, transfer}

  // 'sender', 'target' or null: what this agent is in transfer `t`.
  function roleIn(t) {
    const me = session.myName();
    if (!t || !me) return null;
    if (t.from_agent === me) return 'sender';
    if (t.to_agent === me) return 'target';
    return null;
  }

  function merge(t) {
    let h = historyOf.get(t.conversation);
    if (!h) historyOf.set(t.conversation, (h = new Map()));
    const old = h.get(t.id);
    if (!old || (t.updated_at || 0) >= (old.updated_at || 0)) h.set(t.id, t);
  }

  // Records a transfer this agent is part of. `live`: it just happened (its
  // deadline is counted from now, on this clock). Returns {t, prev, changed}.
  function remember(raw, live) {
    const prev = latestOf.get(raw.conversation) || null;
    merge(raw);
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
    latestOf.set(t.conversation, t);
    return { t, prev, changed: true };
  }

  // The conversation's history, oldest first.
  function history(id) {
    const h = historyOf.get(id);
    return h ? [...h.values()].sort((a, b) => a.created_at - b.created_at || (a.id < b.id ? -1 : 1)) : [];
  }

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
    for (const t of list) merge(t);
    // A transfer under way survives a reload: its record is the last one.
    const last = list[list.length - 1];
    if (last && isOpen(last) && roleIn(last)) remember(last, false);
    bus.emit('transfer-changed', id);
  }

  return {
    roleIn,
    latest: (id) => latestOf.get(id) || null,
    history,
    remember,
    merge,
    loadHistory,
    // Loads the history again shortly (someone joined or left: a transfer may have ended).
    reloadSoon(id) {
      clearTimeout(historyTimers.get(id));
      historyTimers.set(id, setTimeout(() => loadHistory(id), kHistoryDelayMs));
    },

    // Offered to me, or consulting me, right now.
    targetsMe(id) {
      const t = latestOf.get(id);
      return isOpen(t) && roleIn(t) === 'target';
    },

    // The record of the transfer that brought conversation `id` from a partner.
    inbound(id) {
      const list = history(id).filter((t) => t.kind === 'peer' && t.direction === 'in');
      return list[list.length - 1] || null;
    },

    // The open transfers of the desk (after hello): {transfers: [...]}.
    fromDesk(list) {
      for (const t of Array.isArray(list) ? list : []) {
        if (t && t.id && t.conversation && roleIn(t)) remember(t, false);
      }
    },

    // A `transfer` event (or the record of an answer). Returns null when it is not
    // about this agent; {inbound, before} for a transfer received from a partner
    // (news of a conversation of mine); else {t, prev, changed, fresh}.
    receive(raw) {
      if (!raw || !raw.id || !raw.conversation) return null;
      if (raw.kind === 'peer' && raw.direction === 'in') {
        const before = (historyOf.get(raw.conversation) || new Map()).get(raw.id) || null;
        merge(raw);
        return { inbound: raw, before };
      }
      if (!roleIn(raw)) return null;
      const r = remember(raw, true);
      return { ...r, fresh: !r.prev || r.prev.id !== r.t.id };
    },

    // "Transferred to Northwind Insurance" / "Sent back to Acme Bank": where a
    // conversation in state transferred went.
    transferredText(s) {
      const out = latestOf.get(s.id);
      if (out && out.kind === 'peer' && roleIn(out) === 'sender' && out.state === 'completed') {
        return `Transferred to ${out.destination || session.partnerName(out.to_peer)}`;
      }
      const inbound = this.inbound(s.id);
      if (inbound && inbound.state === 'recalled') return `Sent back to ${inbound.origin_organization || inbound.to_peer}`;
      if (s.close_reason) return s.close_reason.replace(/\.$/, '');
      return 'Transferred';
    },

    // Sends a request about transfer `t` ({type: 'transfer.accept', ...}). Returns
    // whether it went out; until its answer, t.busy.
    act(type, t, extra = {}) {
      if (!t || t.busy) return true;
      if (!send({ type, transfer: t.id, ...extra })) return false;
      t.busy = true;
      this.expect(type, t.conversation, t.id);
      bus.emit('changed', t.conversation);
      return true;
    },

    // A request of `type` about conversation `id` went out; its answer is awaited.
    expect(type, id, transfer = '') {
      actions.set(type, { conversation: id, transfer });
    },

    // The answer to a request came (`ok` or `error`): what it was about, or null.
    answered(type) {
      const a = actions.get(type) || null;
      actions.delete(type);
      const t = a ? latestOf.get(a.conversation) : null;
      if (t && t.id === a.transfer) t.busy = false;
      return a;
    },

    // What happened to transfer `t`, told to this agent in words, for a notice
    // ('' when nothing is worth one). `who`: the visitor's label.
    news(t, who = 'a visitor') {
      const from = session.nameOf(t.from_agent);
      const to = t.to_agent ? session.nameOf(t.to_agent) : '';
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
        const dest = t.destination || session.partnerName(t.to_peer);
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
    },

    // The list tag for conversation `id`'s transfer: {text, cls, deadline} (a
    // deadline: the text counts down, "LABEL · 18 s left"), or null.
    tag(id) {
      const t = latestOf.get(id);
      const role = roleIn(t);
      if (!role) return null;
      const counting = (text, cls) => ({ text, cls, deadline: t.localDeadline || 0 });
      if (isOpen(t) && t.kind === 'peer') {
        const dest = t.destination || session.partnerName(t.to_peer);
        return choosingQueue(t)
          ? counting(`${dest} answered: choose a queue`, 'tag-offer')
          : { text: `Transferring to ${dest}`, cls: 'tag-transfer', deadline: 0 };
      }
      if (isOpen(t)) {
        if (t.kind === 'consult') {
          const text = role === 'sender' ? `Consulting ${session.nameOf(t.to_agent)}` : `Consultation with ${session.nameOf(t.from_agent)}`;
          return { text, cls: 'tag-consult', deadline: 0 };
        }
        if (role === 'target') return counting(`Transfer request from ${session.nameOf(t.from_agent)}`, 'tag-offer');
        return counting(`Offered to ${session.nameOf(t.to_agent)}`, 'tag-transfer');
      }
      if (role !== 'sender' || t.seen) return null;
      if (t.kind === 'peer' && (t.state === 'failed' || t.state === 'expired' || t.state === 'cancelled')) {
        return { text: 'Transfer failed', cls: 'tag-alert', deadline: 0 };
      }
      if (t.kind === 'agent' && (t.state === 'declined' || t.state === 'expired')) {
        return { text: t.state === 'declined' ? 'Transfer declined' : 'Transfer not answered', cls: 'tag-alert', deadline: 0 };
      }
      return null;
    },

    dismiss(id) {
      const t = latestOf.get(id);
      if (t) t.seen = true;
      bus.emit('changed', id);
    },

    clear() {
      latestOf.clear();
      historyOf.clear();
      actions.clear();
      for (const timer of historyTimers.values()) clearTimeout(timer);
      historyTimers.clear();
    },
  };
}
