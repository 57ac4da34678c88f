// SLA misses, newest detected last (as the API lists them), filterable by
// DAG and by time.
import { api, dagPath, runPath, enc } from '../api.js';
import { h, replace, time, errorBox, localInputToIso } from '../ui.js';

export async function slaPage(el, { query }) {
  const dag = h('input', { id: 'sla-dag', placeholder: 'DAG id', value: query.get('dag') || '' });
  const since = h('input', { id: 'sla-since', type: 'datetime-local', step: '1' });
  const out = h('div', { id: 'sla-list' });
  const kinds = { run_deadline: 'run deadline', run_duration: 'run duration', task_duration: 'task max duration' };

  let applied = {}; // the filters of the last "Filter"
  async function refresh(apply) {
    if (apply) applied = { dag_id: dag.value.trim() || undefined, since: since.value ? localInputToIso(since.value) : undefined };
    const q = applied;
    const items = await api.all('/sla-misses', q, 5000);
    replace(out, items.length ? h('div', { class: 'table-wrap' }, h('table', { id: 'sla-table' },
      h('thead', {}, h('tr', {}, ['DAG', 'Run', 'Task', 'Kind', 'Deadline', 'Detected'].map((t) => h('th', {}, t)))),
      h('tbody', {}, items.slice().reverse().map((m) => h('tr', { dataset: { kind: m.kind } },
        h('td', {}, h('a', { href: `#${dagPath(m.dag_id)}` }, m.dag_id)),
        h('td', { class: 'mono small' }, h('a', { href: `#${runPath(m.dag_id, m.run_id)}${m.task_id ? `?task=${enc(m.task_id)}` : ''}` }, m.run_id)),
        h('td', {}, m.task_id || h('span', { class: 'muted' }, '(the run)')), h('td', {}, kinds[m.kind] || m.kind),
        h('td', {}, time(m.deadline, { both: true })), h('td', {}, time(m.detected_at))))))) : h('p', { class: 'muted' }, 'No SLA misses.'));
  }
  const form = h('form', { class: 'row', onsubmit: async (ev) => { ev.preventDefault(); try { await refresh(true); } catch (e) { replace(out, errorBox(e)); } } },
    h('label', {}, 'DAG', dag), h('label', {}, 'Since (local time)', since), h('button', { type: 'submit', id: 'sla-apply' }, 'Filter'));
  replace(el, h('h1', {}, 'SLA misses'), form, h('div', { style: 'height:.75rem' }), out);
  try { await refresh(true); } catch (e) { replace(out, errorBox(e)); }
  return { refresh: () => refresh(false) };
}
