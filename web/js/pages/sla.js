// SLAs: the misses (GET /sla-misses) and, on the "At risk" tab
// (#/sla?view=risks), the runs found at risk of missing their SLA before
// the deadline (GET /sla-risks: still at risk, or recovered), newest
// detected first, both filterable by DAG and by time.
import { api, dagPath, runPath, enc } from '../api.js';
import { h, replace, time, errorBox, localInputToIso, between, duration } from '../ui.js';

const KINDS = { run_deadline: 'run deadline', run_duration: 'run duration', task_duration: 'task max duration' };

function missesTable(items) {
  return items.length ? h('div', { class: 'table-wrap' }, h('table', { id: 'sla-table' },
    h('thead', {}, h('tr', {}, ['DAG', 'Run', 'Task', 'Kind', 'Deadline', 'Detected'].map((t) => h('th', {}, t)))),
    h('tbody', {}, items.slice().reverse().map((m) => h('tr', { dataset: { kind: m.kind } },
      h('td', {}, h('a', { href: `#${dagPath(m.dag_id)}` }, m.dag_id)),
      h('td', { class: 'mono small' }, h('a', { href: `#${runPath(m.dag_id, m.run_id)}${m.task_id ? `?task=${enc(m.task_id)}` : ''}` }, m.run_id)),
      h('td', {}, m.task_id || h('span', { class: 'muted' }, '(the run)')), h('td', {}, KINDS[m.kind] || m.kind),
      h('td', {}, time(m.deadline, { both: true })), h('td', {}, time(m.detected_at))))))) : h('p', { class: 'muted' }, 'No SLA misses.');
}

function risksTable(items) {
  return items.length ? h('div', { class: 'table-wrap' }, h('table', { id: 'sla-risk-table' },
    h('thead', {}, h('tr', {}, ['DAG', 'Run', 'Kind', 'Deadline', 'Expected end', 'Detected', 'State'].map((t) => h('th', {}, t)))),
    h('tbody', {}, items.slice().reverse().map((m) => {
      const late = between(m.deadline, m.expected_end);
      return h('tr', { dataset: { kind: m.kind, recovered: m.recovered_at ? 'true' : 'false', run: m.run_id } },
        h('td', {}, h('a', { href: `#${dagPath(m.dag_id)}` }, m.dag_id)),
        h('td', { class: 'mono small' }, h('a', { href: `#${runPath(m.dag_id, m.run_id)}` }, m.run_id)),
        h('td', {}, KINDS[m.kind] || m.kind),
        h('td', {}, time(m.deadline, { both: true })),
        h('td', {}, time(m.expected_end), late > 0 ? h('span', { class: 'muted small' }, ` (${duration(late)} late)`) : null),
        h('td', {}, time(m.detected_at)),
        // Not recovered: at risk until its deadline; after it, the miss (if
        // any) is on the Misses tab.
        h('td', { class: 'risk-state' }, m.recovered_at
          ? h('span', {}, h('span', { class: 'risk on-time' }, '✓ recovered'), ' ', time(m.recovered_at))
          : h('span', { class: 'risk at-risk' }, '⚠ At risk', between(m.deadline, null) >= 0 ? h('span', { class: 'risk-late' }, '· deadline passed') : null)));
    })))) : h('p', { class: 'muted' }, 'No run has been at risk of missing its SLA.');
}

export async function slaPage(el, { query }) {
  const view = query.get('view') === 'risks' ? 'risks' : 'misses';
  const dag = h('input', { id: 'sla-dag', placeholder: 'DAG id', value: query.get('dag') || '' });
  const since = h('input', { id: 'sla-since', type: 'datetime-local', step: '1' });
  const out = h('div', { id: view === 'risks' ? 'sla-risk-list' : 'sla-list' });
  const tab = (v, text) => {
    const q = new URLSearchParams();
    if (v === 'risks') q.set('view', 'risks');
    if (dag.value.trim()) q.set('dag', dag.value.trim());
    const s = q.toString();
    return h('a', { role: 'tab', id: `tab-${v}`, href: `#/sla${s ? `?${s}` : ''}`, 'aria-selected': String(view === v) }, text);
  };

  let applied = {}; // the filters of the last "Filter"
  async function refresh(apply) {
    if (apply) applied = { dag_id: dag.value.trim() || undefined, since: since.value ? localInputToIso(since.value) : undefined };
    const items = await api.all(view === 'risks' ? '/sla-risks' : '/sla-misses', applied, 5000);
    replace(out, view === 'risks' ? risksTable(items) : missesTable(items));
  }
  const form = h('form', { class: 'row', onsubmit: async (ev) => { ev.preventDefault(); try { await refresh(true); } catch (e) { replace(out, errorBox(e)); } } },
    h('label', {}, 'DAG', dag), h('label', {}, 'Since (local time)', since), h('button', { type: 'submit', id: 'sla-apply' }, 'Filter'));
  replace(el, h('h1', {}, view === 'risks' ? 'Runs at risk of missing their SLA' : 'SLA misses'),
    h('div', { class: 'tabs', role: 'tablist' }, tab('misses', 'Misses'), tab('risks', 'At risk')),
    view === 'risks' ? h('p', { class: 'muted small' }, 'A running run is at risk when it is expected to end (each unfinished task at its p90) after its SLA deadline; it is marked recovered when it gets back within it.') : null,
    form, h('div', { style: 'height:.75rem' }), out);
  try { await refresh(true); } catch (e) { replace(out, errorBox(e)); }
  return { refresh: () => refresh(false) };
}
