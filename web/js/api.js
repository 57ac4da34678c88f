// The REST API client of the UI: the token from sign-in goes with every
// request; errors become ApiError with the server's message. A 401 sends the
// user back to sign-in.

const KEY = 'baton.token';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export const auth = {
  get token() { return sessionStorage.getItem(KEY) || localStorage.getItem(KEY) || ''; },
  set(token, remember) {
    sessionStorage.setItem(KEY, token);
    if (remember) localStorage.setItem(KEY, token); else localStorage.removeItem(KEY);
  },
  clear() { sessionStorage.removeItem(KEY); localStorage.removeItem(KEY); },
  me: null,
  onUnauthorized: () => {},
};

export const can = {
  operate: () => auth.me && (auth.me.role === 'operator' || auth.me.role === 'admin'),
  // Namespaces, pools and unscoped tokens need an admin token that is not
  // scoped to namespaces (SPEC §13).
  administer: () => !!(auth.me && auth.me.role === 'admin' && !(auth.me.namespaces || []).length),
};

function url(path, query) {
  const u = new URL(`/api/v1${path}`, location.origin);
  for (const [k, v] of Object.entries(query || {})) if (v !== undefined && v !== null && v !== '') u.searchParams.set(k, v);
  return u;
}

async function request(method, path, { query, body, raw, token, withStatus } = {}) {
  const headers = { Authorization: `Bearer ${token || auth.token}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(url(path, query), { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new ApiError(0, 'unavailable', `The server cannot be reached (${e.message})`);
  }
  if (raw && res.ok) return res;
  const text = await res.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = text; }
  }
  if (!res.ok) {
    const e = data && data.error ? data.error : { code: String(res.status), message: text || res.statusText };
    if (res.status === 401 && !token) auth.onUnauthorized();
    throw new ApiError(res.status, e.code, e.message);
  }
  return withStatus ? { status: res.status, data } : data;
}

export const api = {
  get: (path, query, opts) => request('GET', path, { query, ...opts }),
  post: (path, body = {}) => request('POST', path, { body }),
  // The answer and its status (a trigger answers 201 made, 200 seen before).
  postWithStatus: (path, body = {}) => request('POST', path, { body, withStatus: true }),
  patch: (path, body) => request('PATCH', path, { body }),
  put: (path, body) => request('PUT', path, { body }),
  // The answer and its status (a PUT answers 201 made, 200 replaced).
  putWithStatus: (path, body) => request('PUT', path, { body, withStatus: true }),
  del: (path) => request('DELETE', path),
  raw: (path, query) => request('GET', path, { query, raw: true }),
  // Every page of a list, up to `max` items.
  async all(path, query = {}, max = 100000) {
    const items = [];
    let cursor = null;
    do {
      const page = await request('GET', path, { query: { ...query, limit: 1000, cursor } });
      items.push(...page.items);
      cursor = page.next_cursor;
    } while (cursor && items.length < max);
    return items;
  },
};

export const enc = encodeURIComponent;
export const dagPath = (dag) => `/dags/${enc(dag)}`;
export const runPath = (dag, run) => `/dags/${enc(dag)}/runs/${enc(run)}`;
