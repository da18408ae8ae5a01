// fetch helpers for the chart page: JSON in and out, the CSRF token from <body hx-headers>,
// and the API's one error body ({"error": {"code", "message", ...}}) as an ApiError.

export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `request failed (${status})`);
    this.status = status;
    this.code = error.code || String(status);
    this.body = body;
  }
}

let token = null;
function csrf() {
  if (token === null) {
    try {
      token = JSON.parse(document.body.getAttribute('hx-headers') || '{}')['X-CSRFToken'] || '';
    } catch {
      token = '';
    }
  }
  return token;
}

async function parse(response) {
  if (response.status === 204) return null;
  const text = await response.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = { error: { code: String(response.status), message: text.slice(0, 200) } };
  }
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

/** The bars API's answer for ``url`` if the page carries it inline (the active pane's
 * first bars, in columns: apps/charts/embedded.py); used once, else null. */
export function takeEmbedded(url) {
  const node = document.getElementById('embedded-bars');
  if (!node || node.dataset.url !== url) return null;
  node.remove();
  const { columns: c, ...payload } = JSON.parse(node.textContent);
  payload.bars = c.time.map((time, i) => ({
    time, open: c.open[i], high: c.high[i], low: c.low[i], close: c.close[i], volume: c.volume[i],
    bid_volume: c.bid_volume[i], ask_volume: c.ask_volume[i], number_of_trades: c.number_of_trades[i],
  }));
  return payload;
}

export async function getJSON(url, options = {}) {
  const response = await fetch(url, { credentials: 'same-origin', signal: options.signal });
  return parse(response);
}

export async function sendJSON(method, url, body) {
  const response = await fetch(url, {
    method,
    credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json', 'X-CSRFToken': csrf() },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return parse(response);
}

export async function postForm(url, data) {
  const form = new URLSearchParams(data);
  const response = await fetch(url, {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'X-CSRFToken': csrf() },
    body: form,
  });
  if (!response.ok) throw new ApiError(response.status, null);
  return response;
}
