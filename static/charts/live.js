// The live connection (/ws/market/, SPEC section 5) and the frame scheduler.
//
// One WebSocket per page, shared by every pane. It reconnects with exponential backoff
// and jitter, pings every 10 s, and reports its state: "live", "reconnecting" or "stale"
// (open but silent: no pong or tick for 25 s). ``seq`` is checked per symbol: a gap (or a
// reconnect) makes the listeners re-sync through the REST bars endpoint.
//
// Panes never touch the chart when a message arrives: they update their bars in memory
// and ask for a frame; ``flush`` runs once per animation frame. A hidden tab gets no
// frames, so it keeps its state and stops rendering; the first frame after it becomes
// visible again draws everything that changed.

const PING_MS = 10_000;
const STALE_MS = 25_000;
const DEAD_MS = 45_000;

export const baseCode = (symbol) => symbol.split(':')[0].toUpperCase();

export class MarketSocket {
  constructor(path, { held = false } = {}) {
    this.path = path;
    this.held = held; // no connection before release() (see start)
    this.listeners = new Map(); // code -> Set(listener)
    this.timeframes = new Map(); // code -> timeframe asked of the server
    this.seq = new Map();
    this.subscribed = new Set();
    this.status = 'connecting';
    this.statusListeners = new Set();
    this.attempt = 0;
    this.lastMessage = 0;
    this.ws = null;
    this.started = false;
    window.addEventListener('online', () => this.started && this.reconnectNow());
  }

  /** Connect on the first subscription: a pane subscribes once its history is drawn, so the
   *  handshake (and the server's session lookup) stays off the first candle's path. A held
   *  socket waits for release(): the terminal holds it until the first candle is painted,
   *  since the handshake would otherwise compete with that frame for the CPU (the
   *  'subscribed' re-sync fills in whatever traded meanwhile). */
  start() {
    if (this.started || this.held) return;
    this.started = true;
    this.connect();
    this.watchdog = setInterval(() => this.check(), 2000);
  }

  release() {
    this.held = false;
    if (this.listeners.size) this.start();
  }

  onStatus(fn) {
    this.statusListeners.add(fn);
    fn(this.status);
  }

  setStatus(status) {
    if (status === this.status) return;
    this.status = status;
    for (const fn of this.statusListeners) fn(status);
  }

  url() {
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    return `${scheme}://${location.host}${this.path}`;
  }

  connect() {
    let ws;
    try {
      ws = new WebSocket(this.url());
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      this.attempt = 0;
      this.lastMessage = Date.now();
      this.seq.clear();
      this.subscribed.clear();
      this.setStatus('live');
      const byTf = new Map();
      for (const [code, tf] of this.timeframes) {
        if (!byTf.has(tf)) byTf.set(tf, []);
        byTf.get(tf).push(code);
      }
      for (const [tf, codes] of byTf) this.send({ action: 'subscribe', symbols: codes, timeframe: tf });
      clearInterval(this.pinger);
      this.pinger = setInterval(() => this.send({ action: 'ping' }), PING_MS);
    };
    ws.onmessage = (event) => this.receive(event.data);
    ws.onclose = () => {
      clearInterval(this.pinger);
      if (this.ws === ws) {
        this.ws = null;
        this.setStatus('reconnecting');
        this.scheduleReconnect();
      }
    };
    ws.onerror = () => {};
  }

  scheduleReconnect() {
    clearTimeout(this.retryTimer);
    const delay = Math.min(30_000, 500 * 2 ** this.attempt) * (0.7 + Math.random() * 0.6);
    this.attempt = Math.min(this.attempt + 1, 10);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  reconnectNow() {
    if (this.ws && this.ws.readyState <= 1) return;
    clearTimeout(this.retryTimer);
    this.connect();
  }

  check() {
    if (!this.ws || this.ws.readyState !== 1) return;
    const silent = Date.now() - this.lastMessage;
    if (silent > DEAD_MS) {
      const ws = this.ws;
      this.ws = null;
      ws.close();
      this.setStatus('reconnecting');
      this.scheduleReconnect();
    } else if (silent > STALE_MS) {
      this.setStatus('stale');
    }
  }

  send(message) {
    if (this.ws && this.ws.readyState === 1) this.ws.send(JSON.stringify(message));
  }

  /** Listen to a symbol; ``listener`` has onTick(msg), onBarClose(msg), onResync(reason). */
  subscribe(symbol, timeframe, listener) {
    this.start();
    const code = baseCode(symbol);
    let set = this.listeners.get(code);
    if (!set) {
      set = new Set();
      this.listeners.set(code, set);
    }
    set.add(listener);
    if (!this.timeframes.has(code)) {
      // the first pane's timeframe is what the server announces bar closes for; panes
      // build their candles from the trades themselves, whatever their timeframe
      this.timeframes.set(code, timeframe);
      this.send({ action: 'subscribe', symbols: [code], timeframe });
    }
    if (this.subscribed.has(code)) queueMicrotask(() => listener.onResync?.('subscribed'));
    return () => {
      set.delete(listener);
      if (!set.size) {
        this.listeners.delete(code);
        this.timeframes.delete(code);
        this.subscribed.delete(code);
        this.seq.delete(code);
        this.send({ action: 'unsubscribe', symbols: [code] });
      }
    };
  }

  receive(raw) {
    this.lastMessage = Date.now();
    if (this.status !== 'live') this.setStatus('live');
    let msg;
    try {
      msg = JSON.parse(raw);
    } catch {
      return;
    }
    const set = msg.symbol ? this.listeners.get(msg.symbol) : null;
    switch (msg.type) {
      case 'tick': {
        if (!set) return;
        const last = this.seq.get(msg.symbol);
        this.seq.set(msg.symbol, msg.seq);
        if (last !== undefined && msg.seq !== last + 1) {
          if (msg.seq <= last) return; // a replay of something already applied
          for (const l of set) l.onResync?.('gap');
        }
        for (const l of set) l.onTick?.(msg);
        return;
      }
      case 'bar':
        if (set) for (const l of set) l.onBarClose?.(msg);
        return;
      case 'subscribed':
        for (const code of msg.symbols || []) {
          this.subscribed.add(code);
          for (const l of this.listeners.get(code) || []) l.onResync?.('subscribed');
        }
        return;
      case 'error':
        console.warn('market stream:', msg.error_code, msg.message);
        return;
      default:
    }
  }
}

// --- one flush per animation frame -------------------------------------------------------

const dirty = new Set();
let scheduled = false;

function frame() {
  scheduled = false;
  const panes = [...dirty];
  dirty.clear();
  for (const pane of panes) {
    try {
      pane.flush();
    } catch (err) {
      console.error(err);
    }
  }
}

export function requestFlush(pane) {
  dirty.add(pane);
  if (!scheduled && !document.hidden) {
    scheduled = true;
    requestAnimationFrame(frame);
  }
}

document.addEventListener('visibilitychange', () => {
  if (!document.hidden && dirty.size && !scheduled) {
    scheduled = true;
    requestAnimationFrame(frame);
  }
});
