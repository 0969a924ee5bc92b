// The console's sign-in form, signing out, and who is signed in.
//
// Owns `me` (GET /api/agent/me: the agent, its organization, queues, colleagues
// and partner organizations) and the names derived from it. Signing in sets an
// HttpOnly cookie that authenticates the API and the WebSocket; this script holds
// no token. Emits on the bus: 'enter' (me) once signed in, 'leave' when signed out
// (by the agent, or because the server ended the session).

import { api } from '/assets/util.js';

const kRetryEnterMs = 3_000;

export function createSession({ bus, send, say }) {
  const $ = (id) => document.getElementById(id);
  const ui = {
    loading: $('loading'),
    signin: $('signin'),
    form: $('signin-form'),
    notice: $('signin-notice'),
    error: $('signin-error'),
    username: $('username'),
    password: $('password'),
    app: $('app'),
    org: $('org'),
    meName: $('me-name'),
    signout: $('signout'),
  };
  let me = null;

  const session = {
    get me() {
      return me;
    },
    myName() {
      return me && me.agent ? me.agent.name : '';
    },
    displayName() {
      return me && me.agent ? me.agent.display_name || me.agent.name : '';
    },
    organization() {
      return me ? me.organization || '' : '';
    },
    // The queues this agent serves.
    myQueues() {
      return new Set((me && me.agent && me.agent.queues) || []);
    },
    setMyQueues(queues) {
      if (me && me.agent && Array.isArray(queues)) me.agent.queues = queues;
    },
    // An agent's display name, from its name.
    nameOf(agent) {
      if (!agent) return '';
      if (me && me.agent && me.agent.name === agent) return me.agent.display_name || agent;
      const a = me && (me.agents || []).find((x) => x.name === agent);
      return a ? a.display_name || a.name : agent;
    },
    partnerName(name) {
      const p = me && (me.partners || []).find((x) => x.name === name);
      return p ? p.display_name || p.name : name;
    },
    enter,
    leave,
  };

  function showSignin(notice) {
    ui.loading.hidden = true;
    ui.app.hidden = true;
    ui.signin.hidden = false;
    ui.notice.textContent = notice || '';
    document.title = 'Sign in · Baton console';
    ui.username.focus();
  }

  async function enter() {
    try {
      me = await api('/api/agent/me');
    } catch (e) {
      if (e.status === 401 || e.status === 403) return showSignin();
      ui.loading.textContent = `The console cannot reach the server: ${e.message}`;
      setTimeout(enter, kRetryEnterMs);
      return;
    }
    ui.loading.hidden = true;
    ui.signin.hidden = true;
    ui.app.hidden = false;
    ui.org.textContent = me.organization || '';
    ui.meName.textContent = session.displayName();
    bus.emit('enter', me);
  }

  function leave(notice) {
    bus.emit('leave');
    me = null;
    showSignin(notice);
  }

  ui.form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    ui.error.textContent = '';
    const username = ui.username.value.trim();
    const password = ui.password.value;
    if (!username || !password) {
      ui.error.textContent = 'Enter your username and password.';
      (username ? ui.password : ui.username).focus();
      return;
    }
    const button = ui.form.querySelector('button[type=submit]');
    button.disabled = true;
    try {
      await api('/api/agent/session', { method: 'POST', body: { username, password } });
      ui.password.value = '';
      await enter();
    } catch (e) {
      ui.error.textContent = e.status === 401 || e.status === 403 ? 'That username and password do not match.' : e.message;
      ui.password.select();
    } finally {
      button.disabled = false;
    }
  });

  ui.signout.addEventListener('click', async () => {
    ui.signout.disabled = true;
    try {
      // Offline now, rather than after the server's grace period for dropped
      // consoles; first, since signing out closes this session's sockets.
      send({ type: 'status', status: 'offline' });
      // The session cookie is HttpOnly: only the server can end it.
      await api('/api/agent/session', { method: 'DELETE', timeoutMs: 10_000 });
      leave('You are signed out.');
    } catch (e) {
      if (e.status === 401) leave('You are signed out.');
      else say(`Could not sign out: ${e.message}`);
    } finally {
      ui.signout.disabled = false;
    }
  });

  return session;
}
