// The realtime connection: one WebSocket to /ws on this page's own origin that
// says hello, keeps itself alive with pings, and reconnects by itself with
// exponential backoff (0.5 s doubling up to 15 s, with jitter) when it drops.
//
// The owner supplies hello() (called for every new socket, so that it can carry
// the latest sequence number), onMessage(msg) for every server message, and
// onState(state) with 'connecting' | 'open' | 'reconnecting' | 'stopped'.
// 'open' means the server welcomed the hello.

const kMinDelayMs = 500;
const kMaxDelayMs = 15_000;
const kPingEveryMs = 20_000;
// Without any message for this long the socket is taken for dead and replaced.
const kSilenceMs = 45_000;

export class Realtime {
  constructor({ hello, onMessage, onState }) {
    this.hello = hello;
    this.onMessage = onMessage;
    this.onState = onState || (() => {});
    this.ws = null;
    this.attempt = 0;
    this.timer = null;
    this.pinger = null;
    this.lastHeard = 0;
    this.stopped = true;
    this.ready = false;
    this.onOnline = () => {
      if (!this.stopped && !this.ready) this.reconnectNow();
    };
  }

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    window.addEventListener('online', this.onOnline);
    this.connect();
  }

  stop() {
    this.stopped = true;
    this.ready = false;
    window.removeEventListener('online', this.onOnline);
    clearTimeout(this.timer);
    clearInterval(this.pinger);
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.onclose = ws.onmessage = ws.onerror = ws.onopen = null;
      try {
        ws.close(1000, 'bye');
      } catch {
        // already closed
      }
    }
    this.onState('stopped');
  }

  // Sends when the session is ready; returns false otherwise (the caller keeps
  // the message and sends it after the next welcome).
  send(msg) {
    if (!this.ws || !this.ready || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(msg));
    return true;
  }

  reconnectNow() {
    clearTimeout(this.timer);
    if (this.ws) {
      this.ws.onclose = null;
      try {
        this.ws.close();
      } catch {
        // ignore
      }
      this.ws = null;
    }
    this.attempt = 0;
    this.connect();
  }

  connect() {
    if (this.stopped) return;
    this.ready = false;
    this.onState(this.attempt === 0 ? 'connecting' : 'reconnecting');
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    let ws;
    try {
      ws = new WebSocket(`${scheme}//${location.host}/ws`);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      this.lastHeard = Date.now();
      ws.send(JSON.stringify(this.hello()));
      clearInterval(this.pinger);
      this.pinger = setInterval(() => this.keepAlive(), kPingEveryMs);
    };
    ws.onmessage = (ev) => {
      this.lastHeard = Date.now();
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (!msg || typeof msg !== 'object') return;
      if (msg.type === 'pong') return;
      if (msg.type === 'welcome') {
        this.ready = true;
        this.attempt = 0;
        this.onState('open');
      }
      this.onMessage(msg);
      // A refused hello leaves the socket useless: unless the owner stopped us
      // (a bad token or session), try again later on a new one.
      if (msg.type === 'error' && msg.in_reply_to === 'hello' && !this.stopped && this.ws === ws) ws.close();
    };
    ws.onerror = () => {
      // onclose follows and schedules the reconnect.
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.ready = false;
      clearInterval(this.pinger);
      this.scheduleReconnect();
    };
  }

  keepAlive() {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return;
    if (Date.now() - this.lastHeard > kSilenceMs) {
      this.ws.close();
      return;
    }
    this.ws.send('{"type":"ping"}');
  }

  scheduleReconnect() {
    if (this.stopped) return;
    this.onState('reconnecting');
    const base = Math.min(kMaxDelayMs, kMinDelayMs * 2 ** this.attempt);
    const delay = base / 2 + Math.random() * (base / 2);
    this.attempt += 1;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), delay);
  }
}
