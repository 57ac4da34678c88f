// The audit log: every change, by whom, oldest first as stored (shown newest
// first), filterable by DAG, action, actor and time, paged with the API's
// cursor.
import { api } from '../api.js';
import { h, replace, time, errorBox, localInputToIso } from '../ui.js';

const PAGE = 200;

export async function auditPage(el, { query }) {
  const dag = h('input', { id: 'audit-dag', placeholder: 'DAG id', value: query.get('dag') || '' });
  const action = h('input', { id: 'audit-action', placeholder: 'e.g. run.trigger', value: query.get('action') || '', list: 'audit-actions' });
  const actions = h('datalist', { id: 'audit-actions' });
  const actor = h('input', { id: 'audit-actor', placeholder: 'token name or system', value: query.get('actor') || '' });
  const since = h('input', { id: 'audit-since', type: 'datetime-local', step: '1' });
  const out = h('div', { id: 'audit-list' });
  const more = h('button', { type: 'button', id: 'audit-more', hidden: true }, 'Older entries');
  let items = [];
  let cursor = null;
  const seen = new Set();

  const filters = () => ({ dag_id: dag.value.trim() || undefined, action: action.value.trim() || undefined,
    actor: actor.value.trim() || undefined, since: since.value ? localInputToIso(since.value) : undefined });

  // The API lists oldest first: walk to the end, keep the newest PAGE.
  async function fetchNewest() {
    let all = [];
    let c = null;
    do {
      const page = await api.get('/audit', { ...filters(), limit: 1000, cursor: c });
      all = all.concat(page.items);
      if (all.length > 50000) all = all.slice(-50000);
      c = page.next_cursor;
    } while (c);
    return all;
  }

  function draw() {
    const shown = items.slice(-PAGE * (1 + (cursor || 0))).reverse();
    more.hidden = shown.length >= items.length;
    for (const e of items) seen.add(e.action);
    replace(actions, [...seen].sort().map((a) => h('option', { value: a })));
    replace(out, shown.length ? h('div', { class: 'table-wrap' }, h('table', { id: 'audit-table' },
      h('thead', {}, h('tr', {}, ['#', 'At', 'Actor', 'Action', 'Target', 'Details'].map((t) => h('th', {}, t)))),
      h('tbody', {}, shown.map((e) => h('tr', { dataset: { action: e.action } },
        h('td', {}, e.id), h('td', { class: 'small' }, time(e.at)), h('td', {}, e.actor), h('td', {}, h('code', {}, e.action)),
        h('td', { class: 'mono small' }, e.target),
        h('td', { class: 'small' }, e.details && Object.keys(e.details).length
          ? h('details', {}, h('summary', {}, Object.keys(e.details).join(', ')), h('pre', { class: 'json' }, JSON.stringify(e.details, null, 2)))
          : '—')))))) : h('p', { class: 'muted' }, 'No audit entries match.'));
  }

  // The first time, the whole (filtered) log; then only what came since the
  // newest entry shown.
  async function refresh(full) {
    if (full || !items.length) {
      items = await fetchNewest();
    } else {
      const last = items[items.length - 1];
      const f = filters();
      const newer = await api.all('/audit', { ...f, since: f.since && f.since > last.at ? f.since : last.at }, 50000);
      const fresh = newer.filter((e) => e.id > last.id);
      if (!fresh.length) return;
      items = items.concat(fresh);
    }
    draw();
  }
  more.addEventListener('click', () => { cursor = (cursor || 0) + 1; draw(); });
  const form = h('form', { class: 'row', style: 'align-items:flex-end', onsubmit: async (ev) => { ev.preventDefault(); cursor = null; try { await refresh(true); } catch (e) { replace(out, errorBox(e)); } } },
    h('label', {}, 'DAG', dag), h('label', {}, 'Action', action), actions, h('label', {}, 'Actor', actor),
    h('label', {}, 'Since (local time)', since), h('button', { type: 'submit', id: 'audit-apply' }, 'Filter'));
  replace(el, h('h1', {}, 'Audit log'), form, h('div', { style: 'height:.75rem' }), out, more);
  try { await refresh(true); } catch (e) { replace(out, errorBox(e)); }
  return { refresh: () => refresh(false) };
}
