// The signaling socket (CONTRACT.md, "WebSocket GET /ws"): hello, then
// frames. It comes back by itself after a drop — resuming the same
// participant within the server's window — and holds outgoing frames while
// it is away, so a short outage loses nothing and never touches a call.
// A server that cannot check the token now (`error` code `unavailable`,
// close 1013) is retried with backoff; only a refused token (1008) ends it.
// A draining server's `reconnect {after_ms}` is followed: after the delay
// the socket reconnects and resumes, on whichever node answers.

const PING_EVERY_MS = 10_000;
const PONG_WITHIN_MS = 8_000;
const MAX_QUEUED = 200;

export class Signal extends EventTarget {
  constructor(token) {
    super();
    this.token = token;
    this.ws = null;
    this.state = 'idle'; // idle | connecting | open | reconnecting | closed
    this.participantId = null;
    this.resumeToken = null;
    this.queue = [];
    this.attempt = 0;
    this.timers = {};
    this.onOnline = () => { if (this.state === 'reconnecting') this.#open(); };
    addEventListener('online', this.onOnline);
  }

  /** Connects; resolves with the first `welcome`. */
  connect() {
    const first = new Promise((resolve, reject) => {
      const ok = (e) => { this.removeEventListener('failed', bad); resolve(e.detail); };
      const bad = (e) => { this.removeEventListener('welcome', ok); reject(e.detail); };
      this.addEventListener('welcome', ok, { once: true });
      this.addEventListener('failed', bad, { once: true });
    });
    this.#open();
    return first;
  }

  /** Listens for one frame type; returns the unsubscribe function. */
  on(type, handler) {
    const listener = (event) => handler(event.detail);
    this.addEventListener(`frame:${type}`, listener);
    return () => this.removeEventListener(`frame:${type}`, listener);
  }

  /** Sends now, or once the socket is back (pings are never held). */
  send(frame) {
    if (this.state === 'open' && this.ws?.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(frame));
      return;
    }
    if (frame.type === 'ping' || this.state === 'closed') return;
    this.queue.push(frame);
    if (this.queue.length > MAX_QUEUED) this.queue.shift();
  }

  /** Ends the session on purpose: the server drops our place at once. */
  close() {
    this.state = 'closed';
    this.#clearTimers();
    removeEventListener('online', this.onOnline);
    this.queue = [];
    const ws = this.ws;
    this.ws = null;
    if (ws && ws.readyState <= WebSocket.OPEN) ws.close(1000, 'bye');
    this.#emit('state', this.state);
  }

  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  #setState(state) {
    if (this.state === state) return;
    this.state = state;
    this.#emit('state', state);
  }

  #clearTimers() {
    for (const timer of Object.values(this.timers)) clearTimeout(timer);
    this.timers = {};
  }

  #open() {
    if (this.state === 'closed') return;
    this.#clearTimers();
    if (this.ws) {
      // Abandon, never close, a stale socket: a close frame would end the
      // session the new socket is about to resume. The server cuts it off.
      this.ws.onopen = this.ws.onmessage = this.ws.onclose = null;
      this.ws = null;
    }
    this.#setState(this.participantId ? 'reconnecting' : 'connecting');
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const ws = new WebSocket(`${scheme}://${location.host}/ws`);
    this.ws = ws;
    let welcomed = false;
    let unavailable = false;
    ws.onopen = () => {
      const hello = { type: 'hello', token: this.token };
      if (this.resumeToken) hello.resume = this.resumeToken;
      ws.send(JSON.stringify(hello));
    };
    ws.onmessage = (event) => {
      let frame;
      try { frame = JSON.parse(event.data); } catch { return; }
      this.#heard();
      if (frame.type === 'welcome') {
        welcomed = true;
        const resumed = this.participantId !== null && frame.participant_id === this.participantId;
        const previous = this.participantId;
        this.participantId = frame.participant_id;
        this.resumeToken = frame.resume_token;
        this.attempt = 0;
        this.#setState('open');
        this.#emit('welcome', { ...frame, resumed, previous });
        const held = this.queue;
        this.queue = [];
        // A fresh session has no room or subscription yet: the page
        // re-joins first, and frames addressed to the old call are stale.
        for (const f of held) if (resumed || !['offer', 'answer', 'candidate', 'chat'].includes(f.type)) this.send(f);
        this.#schedulePing();
        return;
      }
      if (frame.type === 'pong') return;
      if (frame.type === 'reconnect') {
        clearTimeout(this.timers.reconnect);
        this.timers.reconnect = setTimeout(() => this.#open(), Math.max(0, Number(frame.after_ms) || 0));
        return;
      }
      if (!welcomed && frame.type === 'error' && frame.code === 'unavailable') {
        // The server cannot check the token right now: not a refusal.
        unavailable = true;
        return;
      }
      this.#emit(`frame:${frame.type}`, frame);
      this.#emit('frame', frame);
    };
    ws.onclose = (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.#clearTimers();
      if (this.state === 'closed') return;
      if (!welcomed && !unavailable && event.code === 1008) {
        // The token itself was refused: retrying will not help.
        this.state = 'closed';
        this.#emit('failed', { code: event.code, reason: event.reason });
        this.#emit('state', 'closed');
        return;
      }
      this.#setState(this.participantId ? 'reconnecting' : 'connecting');
      const delay = Math.min(5_000, 250 * 2 ** this.attempt) * (0.75 + Math.random() / 2);
      this.attempt += 1;
      this.timers.retry = setTimeout(() => this.#open(), delay);
    };
  }

  #schedulePing() {
    clearTimeout(this.timers.ping);
    this.timers.ping = setTimeout(() => {
      if (this.state !== 'open') return;
      this.send({ type: 'ping' });
      // No answer at all: the connection is dead even if the browser has not noticed.
      this.timers.deadline = setTimeout(() => this.#open(), PONG_WITHIN_MS);
      this.#schedulePing();
    }, PING_EVERY_MS);
  }

  #heard() {
    clearTimeout(this.timers.deadline);
    delete this.timers.deadline;
  }
}
