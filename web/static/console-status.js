// The top bar's Status control (online, away, offline) and its connection line.
//
// Owns the agent's status as the server last said it: choosing another sends
// {"type":"status"}, and only the server's `status` answer changes it; a refusal
// (or no connection) puts the control back.

export function createStatus({ send }) {
  const $ = (id) => document.getElementById(id);
  const ui = { select: $('status'), dot: $('status-dot'), connection: $('connection') };
  let status = 'offline';

  const api = {
    get current() {
      return status;
    },
    // The server's word: {"type":"status"}, or the desk's agent.status.
    set(s) {
      if (!s) return;
      status = s;
      ui.select.value = s;
      ui.dot.className = `dot dot-${s}`;
    },
    // The request was refused: show what the server has.
    revert() {
      ui.select.value = status;
    },
    // A line about the connection (or anything else that went wrong in the background).
    say(text) {
      ui.connection.textContent = text || '';
    },
  };

  ui.select.addEventListener('change', () => {
    if (!send({ type: 'status', status: ui.select.value })) {
      api.revert();
      api.say('Not connected; the status could not be changed.');
    }
  });

  return api;
}
