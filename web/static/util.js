// Small helpers shared by the chat page and the agent console.
// Everything people type reaches the page through textContent, never as markup.

// Creates an element. `attrs` may hold `class`, `text` (set as textContent),
// `hidden`, `on` ({event: handler}) and any other attribute; children are nodes
// or strings (strings become text nodes).
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = value;
    else if (key === 'on') for (const [ev, fn] of Object.entries(value)) node.addEventListener(ev, fn);
    else if (value === true) node.setAttribute(key, '');
    else node.setAttribute(key, String(value));
  }
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    node.append(typeof child === 'string' ? document.createTextNode(child) : child);
  }
  return node;
}

// The server counts message sizes in UTF-8 bytes.
export const kMaxMessageBytes = 4000;
export function utf8Bytes(text) {
  return new TextEncoder().encode(text).length;
}

export function clear(node) {
  while (node.firstChild) node.firstChild.remove();
}

// 32 hex digits from the platform's CSPRNG (crypto.randomUUID needs a secure context).
export function randomId() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

export function formatClock(ms) {
  if (!ms) return '';
  return new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

export function formatDateTime(ms) {
  if (!ms) return '';
  return new Date(ms).toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' });
}

export function formatDuration(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  return `${h} h ${m % 60} min`;
}

// "Chrome 120 on Linux" from a User-Agent string; the raw string when unknown.
export function shortBrowser(ua) {
  if (!ua) return '';
  const pick = (re) => {
    const m = ua.match(re);
    return m ? m[1] : null;
  };
  let name = null;
  let v;
  if ((v = pick(/Edg\/(\d+)/))) name = `Edge ${v}`;
  else if ((v = pick(/OPR\/(\d+)/))) name = `Opera ${v}`;
  else if ((v = pick(/Firefox\/(\d+)/))) name = `Firefox ${v}`;
  else if ((v = pick(/(?:Chrome|Chromium|CriOS)\/(\d+)/))) name = `Chrome ${v}`;
  else if ((v = pick(/Version\/(\d+)[\d.]* .*Safari\//))) name = `Safari ${v}`;
  let os = null;
  if (/Android/.test(ua)) os = 'Android';
  else if (/iPhone|iPad|iPod/.test(ua)) os = 'iOS';
  else if (/Windows/.test(ua)) os = 'Windows';
  else if (/Mac OS X|Macintosh/.test(ua)) os = 'macOS';
  else if (/CrOS/.test(ua)) os = 'ChromeOS';
  else if (/Linux/.test(ua)) os = 'Linux';
  if (!name) return ua.length > 60 ? `${ua.slice(0, 60)}…` : ua;
  return os ? `${name} on ${os}` : name;
}

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// Calls the HTTP API. `token` goes in the Authorization header (never in the URL).
// Resolves to the parsed JSON body; rejects with ApiError (status 0: network).
export async function api(path, { method = 'GET', body, token, timeoutMs = 20_000 } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = `Bearer ${token}`;
  let res;
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      cache: 'no-store',
      signal: abort.signal,
    });
  } catch (e) {
    throw abort.signal.aborted
      ? new ApiError(0, 'timeout', 'The server did not answer in time. Try again.')
      : new ApiError(0, 'network', 'The server cannot be reached. Check your connection.');
  } finally {
    clearTimeout(timer);
  }
  let data = null;
  const type = res.headers.get('Content-Type') || '';
  if (type.startsWith('application/json')) {
    try {
      data = await res.json();
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    const err = data && data.error ? data.error : {};
    throw new ApiError(res.status, err.code || 'http_' + res.status, err.message || `HTTP ${res.status}`);
  }
  return data;
}

// Fetches `path` with the token and offers the result as a file download.
export async function download(path, token, filename) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(path, { headers, credentials: 'same-origin', cache: 'no-store' });
  if (!res.ok) throw new ApiError(res.status, 'http_' + res.status, `HTTP ${res.status}`);
  const blob = await res.blob();
  const url = URL.createObjectURL(blob);
  const a = el('a', { href: url, download: filename });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
