// The UI's entry point: sign-in, the hash router (#/dags, #/dags/ID,
// #/dags/ID/runs/RUN, #/backfills, #/sla, #/namespaces, #/audit) and live updates: the
// page on screen is asked to refresh every two seconds while the tab is
// visible, so that states change without a reload.
import { api, auth } from './api.js';
import { h, replace, errorBox } from './ui.js';
import { dagsPage } from './pages/dags.js';
import { dagPage } from './pages/dag.js';
import { runPage } from './pages/run.js';
import { backfillsPage } from './pages/backfills.js';
import { slaPage } from './pages/sla.js';
import { namespacesPage } from './pages/namespaces.js';
import { auditPage } from './pages/audit.js';

const REFRESH_MS = 2000;
const main = () => document.getElementById('main');
let current = null; // { destroy, refresh, onQuery, page, args }
let timer = null;
let live = true;
let generation = 0; // of render(): a page that finishes loading after a newer one started is dropped
let ticking = false;

function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/dags';
  const [path, qs] = raw.split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  return { parts, query: new URLSearchParams(qs || '') };
}

function route({ parts }) {
  if (parts[0] === 'login') return { nav: null, page: loginPage };
  if (parts[0] === 'dags' && parts.length === 1) return { nav: 'dags', page: dagsPage };
  if (parts[0] === 'dags' && parts.length === 2) return { nav: 'dags', page: dagPage, args: { dag: parts[1] } };
  if (parts[0] === 'dags' && parts[2] === 'runs' && parts.length === 4)
    return { nav: 'dags', page: runPage, args: { dag: parts[1], run: parts[3] } };
  if (parts[0] === 'backfills') return { nav: 'backfills', page: backfillsPage };
  if (parts[0] === 'sla') return { nav: 'sla', page: slaPage };
  if (parts[0] === 'namespaces') return { nav: 'namespaces', page: namespacesPage };
  if (parts[0] === 'audit') return { nav: 'audit', page: auditPage };
  return null;
}

function setLive(ok) {
  if (ok === live) return;
  live = ok;
  const el = document.getElementById('live');
  if (el) {
    el.textContent = ok ? '● live' : '● offline';
    el.classList.toggle('off', !ok);
  }
}

// One refresh at a time: a slow one is not overtaken by the next.
async function tick() {
  if (ticking || !current || !current.refresh || document.hidden) return;
  ticking = true;
  try {
    await current.refresh();
    setLive(true);
  } catch (e) {
    setLive(false);
  } finally {
    ticking = false;
  }
}

function header() {
  const nav = document.getElementById('nav');
  const who = document.getElementById('who');
  nav.hidden = !auth.me;
  if (!auth.me) {
    replace(who);
    return;
  }
  replace(who,
    h('span', { id: 'live', class: 'live' }, '● live'),
    h('span', {}, 'Signed in as ', h('strong', {}, auth.me.name), ` (${auth.me.role})`),
    h('button', { type: 'button', onclick: () => { auth.clear(); auth.me = null; header(); location.hash = '#/login'; } }, 'Sign out'));
}

async function render() {
  const mine = ++generation;
  const asked = location.hash;
  const where = parseHash();
  if (current && current.destroy) current.destroy();
  current = null;
  if (!auth.me && where.parts[0] !== 'login') {
    if (auth.token) {
      try {
        auth.me = await api.get('/me');
      } catch (e) {
        auth.me = null;
      }
    }
    if (mine !== generation) return;
    if (!auth.me) {
      if (!sessionStorage.getItem('baton.after_login')) sessionStorage.setItem('baton.after_login', asked || '#/dags');
      location.hash = '#/login';
      return;
    }
  }
  header();
  const r = route(where);
  for (const a of document.querySelectorAll('#nav a')) {
    if (r && a.dataset.nav === r.nav) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  // Each page draws into an element of its own: one that is still loading
  // when the user moves on draws into nothing.
  const el = h('div');
  replace(main(), el);
  if (!r) {
    replace(el, h('h1', {}, 'Not found'), h('p', {}, 'No page at ', h('code', {}, location.hash), '. ', h('a', { href: '#/dags' }, 'Go to the DAGs')));
    return;
  }
  try {
    const mounted = (await r.page(el, { ...(r.args || {}), query: where.query })) || {};
    if (mine !== generation) {
      if (mounted.destroy) mounted.destroy();
      return;
    }
    current = { ...mounted, page: r.page, args: r.args };
  } catch (e) {
    if (mine === generation) replace(el, errorBox(e));
  }
}

function loginPage(el) {
  const input = h('input', { id: 'token', name: 'token', type: 'password', autocomplete: 'current-password', required: true,
    placeholder: 'baton_…', 'aria-describedby': 'token-help' });
  const remember = h('input', { type: 'checkbox', id: 'remember' });
  const err = h('div', { class: 'field-error', role: 'alert' });
  const form = h('form', {
    onsubmit: async (ev) => {
      ev.preventDefault();
      err.textContent = '';
      const token = input.value.trim();
      try {
        auth.me = await api.get('/me', null, { token });
        auth.set(token, remember.checked);
        const saved = sessionStorage.getItem('baton.after_login');
        const next = saved && !saved.startsWith('#/login') ? saved : '#/dags';
        sessionStorage.removeItem('baton.after_login');
        location.hash = next;
      } catch (e) {
        err.textContent = e.status === 401 ? `Sign-in failed: ${e.message}` : e.message;
      }
    },
  },
  h('label', { for: 'token' }, 'API token', input),
  h('p', { id: 'token-help', class: 'muted small' },
    '`baton standalone` prints the admin token on first start; create others with ',
    h('code', {}, 'baton tokens create NAME --role viewer'), '.'),
  h('label', { class: 'inline' }, remember, 'Remember on this computer'),
  err,
  h('button', { class: 'primary', type: 'submit' }, 'Sign in'));
  replace(el, h('section', { class: 'login panel' }, h('h1', {}, 'Sign in to Baton'), form));
  input.focus();
  return {};
}

auth.onUnauthorized = () => {
  auth.clear();
  auth.me = null;
  if (!location.hash.startsWith('#/login')) {
    sessionStorage.setItem('baton.after_login', location.hash);
    location.hash = '#/login';
  }
};

// The skip link moves the focus; it is not an address of the router.
document.querySelector('.skip')?.addEventListener('click', (ev) => { ev.preventDefault(); main().focus(); });

window.addEventListener('hashchange', () => {
  if (location.hash && !location.hash.startsWith('#/')) return;
  // A page may change only its query (a selected task): it handles that itself.
  if (current && current.onQuery) {
    const where = parseHash();
    const r = route(where);
    if (r && r.page === current.page && JSON.stringify(r.args) === JSON.stringify(current.args)) {
      current.onQuery(where.query);
      return;
    }
  }
  render();
});
document.addEventListener('visibilitychange', () => { if (!document.hidden) tick(); });
timer = setInterval(tick, REFRESH_MS);
render();
export { timer };
