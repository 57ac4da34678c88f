// The audit log, newest first (GET /audit?order=desc), filterable by DAG,
// action, actor and time; "Older entries" pages back with the API's cursor,
// and entries made since appear at the top.
import { api } from '../api.js';
import { h, replace, time, errorBox, localInputToIso } from '../ui.js';

const PAGE = 200;

export async function auditPage(el, { query }) {
  const dag = h('input', { id: 'audit-dag', placeholder: 'DAG id', value: query.get('dag') || '' });
  const action = h('input', { id: 'audit-action', placeholder: 'e.g. run.triggered', value: query.get('action') || '', list: 'audit-actions' });
  const actions = h('datalist', { id: 'audit-actions' });
  const actor = h('input', { id: 'audit-actor', placeholder: 'token name or system', value: query.get('actor') || '' });
  const since = h('input', { id: 'audit-since', type: 'datetime-local', step: '1' });
  const out = h('div', { id: 'audit-list' });
  const more = h('button', { type: 'button', id: 'audit-more', hidden: true }, 'Older entries');
  let items = []; // newest first
  let cursor = null; // of the oldest page shown
  let applied = {}; // the filters of the last "Filter"
  const seen = new Set(['dag.paused', 'dag.unpaused', 'dag.version_registered', 'dag.removed', 'run.triggered',
    'run.canceled', 'task.cleared', 'task.marked', 'backfill.created', 'backfill.canceled']);

  const filters = () => ({ dag_id: dag.value.trim() || undefined, action: action.value.trim() || undefined,
    actor: actor.value.trim() || undefined, since: since.value ? localInputToIso(since.value) : undefined });

  function draw() {
    more.hidden = !cursor;
    for (const e of items) seen.add(e.action);
    replace(actions, [...seen].sort().map((a) => h('option', { value: a })));
    replace(out, items.length ? h('div', { class: 'table-wrap' }, h('table', { id: 'audit-table' },
      h('thead', {}, h('tr', {}, ['#', 'At', 'Actor', 'Action', 'Target', 'Details'].map((t) => h('th', {}, t)))),
      h('tbody', {}, items.map((e) => h('tr', { dataset: { action: e.action } },
        h('td', {}, e.id), h('td', { class: 'small' }, time(e.at)), h('td', {}, e.actor), h('td', {}, h('code', {}, e.action)),
        h('td', { class: 'mono small' }, e.target),
        h('td', { class: 'small' }, e.details && Object.keys(e.details).length
          ? h('details', {}, h('summary', {}, Object.keys(e.details).join(', ')), h('pre', { class: 'json' }, JSON.stringify(e.details, null, 2)))
          : '—')))))) : h('p', { class: 'muted' }, 'No audit entries match.'));
  }

  async function load() {
    applied = filters();
    const page = await api.get('/audit', { ...applied, order: 'desc', limit: PAGE });
    items = page.items;
    cursor = page.next_cursor;
    draw();
  }

  // What came since the newest entry shown (the filters last applied).
  async function refresh() {
    const page = await api.get('/audit', { ...applied, order: 'desc', limit: PAGE });
    const top = items.length ? items[0].id : 0;
    const fresh = page.items.filter((e) => e.id > top);
    if (!fresh.length) return;
    items = fresh.concat(items);
    draw();
  }

  more.addEventListener('click', async () => {
    try {
      const page = await api.get('/audit', { ...applied, order: 'desc', limit: PAGE, cursor });
      items = items.concat(page.items);
      cursor = page.next_cursor;
      draw();
    } catch (e) { replace(out, errorBox(e)); }
  });
  const form = h('form', { class: 'row', style: 'align-items:flex-end', onsubmit: async (ev) => { ev.preventDefault(); try { await load(); } catch (e) { replace(out, errorBox(e)); } } },
    h('label', {}, 'DAG', dag), h('label', {}, 'Action', action), actions, h('label', {}, 'Actor', actor),
    h('label', {}, 'Since (local time)', since), h('button', { type: 'submit', id: 'audit-apply' }, 'Filter'));
  replace(el, h('h1', {}, 'Audit log'), form, h('div', { style: 'height:.75rem' }), out, more);
  try { await load(); } catch (e) { replace(out, errorBox(e)); }
  return { refresh };
}
