// /ws/indicators/ (SPEC section 5): live indicator values pushed on every bar update, so
// the chart never polls. One socket per page; panes subscribe per (symbol, timeframe,
// canonical indicator id) after the REST history of that indicator has loaded (which also
// validated the spec). Reconnects with backoff and re-subscribes everything.

const PING_MS = 20_000;

export class IndicatorStream {
  constructor(path) {
    this.path = path;
    this.subs = new Map(); // "SYMBOL|tf" -> Map(id -> Set(listener))
    this.ws = null;
    this.attempt = 0;
    this.connect();
  }

  get open() {
    return !!this.ws && this.ws.readyState === 1;
  }

  connect() {
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const ws = new WebSocket(`${scheme}://${location.host}${this.path}`);
    this.ws = ws;
    ws.onopen = () => {
      this.attempt = 0;
      for (const [key, ids] of this.subs) {
        const [symbol, timeframe] = key.split('|');
        if (ids.size) this.send({ action: 'subscribe', symbol, timeframe, indicators: [...ids.keys()] });
      }
      clearInterval(this.pinger);
      this.pinger = setInterval(() => this.send({ action: 'ping' }), PING_MS);
    };
    ws.onmessage = (event) => {
      let msg;
      try {
        msg = JSON.parse(event.data);
      } catch {
        return;
      }
      if (msg.type === 'indicator_update') {
        const ids = this.subs.get(`${msg.symbol}|${msg.timeframe}`);
        for (const fn of ids?.get(msg.indicator_id) || []) fn(msg);
      } else if (msg.type === 'error') {
        console.warn('indicator stream:', msg.error_code, msg.message);
      }
    };
    ws.onclose = () => {
      clearInterval(this.pinger);
      if (this.ws !== ws) return;
      this.ws = null;
      const delay = Math.min(30_000, 500 * 2 ** this.attempt) * (0.7 + Math.random() * 0.6);
      this.attempt = Math.min(this.attempt + 1, 10);
      setTimeout(() => this.connect(), delay);
    };
  }

  send(message) {
    if (this.open) this.ws.send(JSON.stringify(message));
  }

  /** Call ``listener(update)`` for each update of ``id``; returns the unsubscribe function. */
  subscribe(symbol, timeframe, id, listener) {
    const key = `${symbol}|${timeframe}`;
    if (!this.subs.has(key)) this.subs.set(key, new Map());
    const ids = this.subs.get(key);
    if (!ids.has(id)) {
      ids.set(id, new Set());
      this.send({ action: 'subscribe', symbol, timeframe, indicators: [id] });
    }
    ids.get(id).add(listener);
    return () => {
      const set = ids.get(id);
      if (!set) return;
      set.delete(listener);
      if (!set.size) {
        ids.delete(id);
        this.send({ action: 'unsubscribe', symbol, timeframe, indicators: [id] });
      }
    };
  }
}

let stream = null;
export function indicatorStream(path) {
  if (!stream) stream = new IndicatorStream(path);
  return stream;
}
