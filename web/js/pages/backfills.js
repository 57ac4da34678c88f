// Backfills: a form whose plan (a dry run, interval by interval: create, skip
// or rerun) is shown before anything starts; then the backfills with their
// live progress and a cancel button.
import { api, can, dagPath, enc } from '../api.js';
import { h, replace, badge, time, toast, errorBox, openDialog } from '../ui.js';

export async function backfillsPage(el, { query }) {
  const dags = (await api.all('/dags')).filter((d) => d.active && d.version);
  const dag = h('select', { id: 'bf-dag', required: true }, dags.map((d) => h('option', { value: d.dag_id }, d.dag_id)));
  if (query.get('dag')) dag.value = query.get('dag');
  const from = h('input', { id: 'bf-from', required: true, placeholder: '2026-11-01', size: 20 });
  const to = h('input', { id: 'bf-to', required: true, placeholder: '2026-11-07', size: 20 });
  const reprocess = h('select', { id: 'bf-reprocess' },
    h('option', { value: 'none' }, 'none: skip intervals that have a run'),
    h('option', { value: 'failed' }, 'failed: also rerun failed runs\' failed tasks'),
    h('option', { value: 'all' }, 'all: rerun every finished run'));
  const maxActive = h('input', { id: 'bf-max-active', type: 'number', min: 1, max: 1000, value: 10, style: 'width:6rem' });
  const err = h('div', { class: 'field-error', role: 'alert', id: 'bf-error' });
  const plan = h('div', { id: 'bf-plan' });
  const listEl = h('div', { id: 'bf-list' });
  let planned = null;

  const body = () => ({ dag_id: dag.value, from: from.value.trim(), to: to.value.trim(), reprocess: reprocess.value,
    max_active_runs: Number(maxActive.value) });

  async function dryRun(ev) {
    ev.preventDefault();
    err.textContent = '';
    planned = null;
    replace(plan);
    if (!(Number(maxActive.value) >= 1 && Number(maxActive.value) <= 1000)) { err.textContent = 'Max active runs must be 1 to 1000'; return; }
    try {
      const b = body();
      const p = await api.post('/backfills', { ...b, dry_run: true });
      planned = b;
      // The summary counts the whole plan; the table shows its first page.
      const counts = p.summary || {};
      const total = (counts.create || 0) + (counts.rerun || 0) + (counts.skip || 0);
      replace(plan, h('div', { class: 'panel' },
        h('h2', {}, `Plan for ${b.dag_id}: ${total} interval${total === 1 ? '' : 's'}`),
        h('p', { id: 'bf-summary' }, Object.entries(counts).filter(([, n]) => n > 0).map(([a, n]) => `${n} ${a}`).join(', ') || 'nothing to do',
          ` · from ${p.from_at} to ${p.to_at} (${b.reprocess})`,
          p.plan_next_cursor ? ` · the first ${p.plan.length} shown` : ''),
        h('div', { class: 'table-wrap', style: 'max-height:40vh;overflow:auto' }, h('table', { id: 'bf-plan-table' },
          h('thead', {}, h('tr', {}, ['Logical date', 'Action', 'Existing run', 'Why'].map((t) => h('th', {}, t)))),
          h('tbody', {}, p.plan.map((s) => h('tr', { dataset: { action: s.action } }, h('td', {}, time(s.logical_date, { both: true })),
            h('td', {}, h('strong', {}, s.action)), h('td', { class: 'mono small' }, s.run_id || '—'), h('td', { class: 'small' }, s.reason || '')))))),
        h('div', { class: 'row', style: 'margin-top:.5rem' },
          h('button', { type: 'button', class: 'primary', id: 'bf-start', disabled: !can.operate() || !((counts.create || 0) + (counts.rerun || 0)), onclick: start },
            'Start this backfill'),
          h('button', { type: 'button', onclick: () => { planned = null; replace(plan); } }, 'Discard'))));
    } catch (e) {
      err.textContent = e.message;
    }
  }

  async function start() {
    if (!planned) return;
    try {
      const b = await api.post('/backfills', planned);
      toast(`Backfill ${b.id} started: ${b.total} interval${b.total === 1 ? '' : 's'}`);
      planned = null;
      replace(plan);
      await refresh();
    } catch (e) {
      err.textContent = e.message;
    }
  }

  function cancel(b) {
    const form = h('form', { method: 'dialog' },
      h('p', {}, `Cancel backfill ${b.id} of ${b.dag_id}? Every run it made that is still going is canceled, running tasks included.`),
      h('div', { class: 'row' }, h('button', { type: 'submit', class: 'danger', id: 'confirm-bf-cancel' }, 'Cancel the backfill'),
        h('button', { type: 'button', onclick: () => dlg.close() }, 'Keep it')));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      try { await api.post(`/backfills/${b.id}/cancel`); dlg.close(); toast(`Backfill ${b.id} canceled`); await refresh(); }
      catch (e) { toast(e.message, { bad: true }); }
    });
    const dlg = openDialog(`Cancel backfill ${b.id}`, form);
  }

  function progress(b) {
    const total = Math.max(1, b.total);
    const ok = b.done - b.failed;
    return h('div', { class: 'row', style: 'gap:.5rem' },
      h('div', { class: 'progress', role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': b.total, 'aria-valuenow': b.done,
        'aria-label': `backfill ${b.id}: ${b.done} of ${b.total} done, ${b.failed} failed` },
      h('span', { class: 'done', style: `width:${(100 * ok) / total}%` }), h('span', { class: 'bad', style: `width:${(100 * b.failed) / total}%` })),
      h('span', { class: 'small bf-count' }, `${b.done} / ${b.total}`, b.failed ? ` (${b.failed} failed)` : ''));
  }

  async function refresh() {
    const items = (await api.get('/backfills', { limit: 100 })).items;
    const focus = query.get('id');
    replace(listEl, items.length ? h('div', { class: 'table-wrap' }, h('table', { id: 'bf-table' },
      h('thead', {}, h('tr', {}, ['#', 'DAG', 'Range', 'Reprocess', 'State', 'Progress', 'Created', ''].map((t) => h('th', {}, t)))),
      h('tbody', {}, items.map((b) => h('tr', { dataset: { id: b.id, state: b.state }, class: String(b.id) === focus ? 'selected' : null },
        h('td', {}, b.id), h('td', {}, h('a', { href: `#${dagPath(b.dag_id)}` }, b.dag_id)),
        h('td', { class: 'small' }, `${b.from} → ${b.to}`), h('td', {}, b.reprocess),
        h('td', {}, badge(b.state === 'running' ? 'running' : b.state)), h('td', {}, progress(b)),
        h('td', { class: 'small' }, time(b.created_at), h('div', { class: 'muted' }, b.created_by)),
        h('td', {}, b.state === 'running' && can.operate()
          ? h('button', { type: 'button', class: 'danger', onclick: () => cancel(b), 'aria-label': `Cancel backfill ${b.id}` }, 'Cancel') : null))))))
      : h('p', { class: 'muted' }, 'No backfills yet.'));
  }

  replace(el, h('h1', {}, 'Backfills'),
    h('form', { class: 'panel', id: 'bf-form', onsubmit: dryRun },
      h('div', { class: 'row', style: 'align-items:flex-end' },
        h('label', {}, 'DAG', dag), h('label', {}, 'From (date or date-time, in the DAG\'s timezone)', from),
        h('label', {}, 'To (inclusive)', to), h('label', {}, 'Reprocess', reprocess), h('label', {}, 'Max active runs', maxActive),
        h('button', { type: 'submit', id: 'bf-dry-run' }, 'Show plan')), err),
    plan, h('h2', {}, 'All backfills'), listEl);
  try { await refresh(); } catch (e) { replace(listEl, errorBox(e)); }
  return { refresh };
}
export { enc };
