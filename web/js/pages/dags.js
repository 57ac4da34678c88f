// The DAG list: search, filters by tag, namespace and paused, the pause
// toggle, each DAG's schedule with its timezone, its next run in local time
// and UTC, its last runs and its import errors.
import { api, can, dagPath, enc } from '../api.js';
import { h, replace, stateBox, time, toast, errorBox } from '../ui.js';

export async function dagsPage(el, { query }) {
  let dags = [];
  const search = h('input', { type: 'search', id: 'dag-search', placeholder: 'Search DAGs', 'aria-label': 'Search DAGs',
    value: query.get('q') || '' });
  const tag = h('select', { id: 'dag-tag', 'aria-label': 'Tag' });
  const ns = h('select', { id: 'dag-namespace', 'aria-label': 'Namespace' });
  const paused = h('select', { id: 'dag-paused', 'aria-label': 'Paused or active' },
    h('option', { value: '' }, 'All DAGs'), h('option', { value: 'active' }, 'Unpaused'), h('option', { value: 'paused' }, 'Paused'),
    h('option', { value: 'errors' }, 'With import errors'));
  const count = h('span', { class: 'muted small', 'aria-live': 'polite' });
  const body = h('tbody');
  const status = h('div');

  function options(select, values, all) {
    const keep = select.value;
    replace(select, h('option', { value: '' }, all), [...values].sort().map((v) => h('option', { value: v }, v)));
    select.value = values.has(keep) ? keep : '';
  }

  function visible() {
    const q = search.value.trim().toLowerCase();
    return dags.filter((d) => {
      if (q && !(d.dag_id.toLowerCase().includes(q) || (d.description || '').toLowerCase().includes(q) ||
                 (d.tags || []).some((t) => t.toLowerCase().includes(q)))) return false;
      if (tag.value && !(d.tags || []).includes(tag.value)) return false;
      if (ns.value && d.namespace !== ns.value) return false;
      if (paused.value === 'paused' && !d.paused) return false;
      if (paused.value === 'active' && d.paused) return false;
      if (paused.value === 'errors' && !(d.import_errors && d.import_errors.length)) return false;
      return true;
    });
  }

  function toggle(d) {
    const sw = h('button', { type: 'button', class: 'switch', role: 'switch', 'aria-checked': String(!d.paused),
      'aria-label': `${d.dag_id}: ${d.paused ? 'paused' : 'unpaused'}; press to ${d.paused ? 'unpause' : 'pause'}`,
      title: d.paused ? 'Paused: no new scheduled runs. Press to unpause.' : 'Unpaused. Press to pause.',
      disabled: !can.operate(), dataset: { dag: d.dag_id } });
    // Busy, not disabled, while the change is sent: a disabled button would
    // drop the keyboard focus.
    sw.addEventListener('click', async () => {
      if (sw.getAttribute('aria-busy') === 'true') return;
      sw.setAttribute('aria-busy', 'true');
      try {
        const now = await api.patch(dagPath(d.dag_id), { paused: !d.paused });
        Object.assign(d, now);
        toast(`${d.dag_id} ${d.paused ? 'paused' : 'unpaused'}`);
        draw();
        body.querySelector(`button[data-dag="${CSS.escape(d.dag_id)}"]`)?.focus();
      } catch (e) {
        toast(e.message, { bad: true });
        sw.removeAttribute('aria-busy');
      }
    });
    return sw;
  }

  function schedule(d) {
    if (!d.schedule || d.schedule.kind === 'none' || !d.schedule.kind) return h('span', { class: 'muted' }, 'none (triggered only)');
    if (d.schedule.kind === 'datasets') return h('span', {}, 'datasets: ', d.schedule.datasets.join(', '));
    return h('span', {}, h('code', {}, d.schedule.expression), h('div', { class: 'muted small' }, d.timezone || 'UTC'));
  }

  function row(d) {
    const runs = [...(d.recent_runs || [])].reverse();
    const tr = h('tr', { dataset: { dag: d.dag_id } },
      h('td', {}, toggle(d)),
      h('td', {},
        h('a', { href: `#${dagPath(d.dag_id)}`, class: 'dag-link' }, h('strong', {}, d.dag_id)),
        d.namespace && d.namespace !== 'default' ? h('span', { class: 'muted small' }, ` · ${d.namespace}`) : null,
        d.description ? h('div', { class: 'muted small' }, d.description) : null,
        h('div', {}, (d.tags || []).map((t) => h('span', { class: 'tag' }, t))),
        d.active ? null : h('div', { class: 'small muted' }, 'inactive: its file was removed')),
      h('td', {}, schedule(d)),
      h('td', { class: 'next-run' }, d.next_run ? [time(d.next_run.logical_date),
        h('div', { class: 'muted small' }, d.next_run.logical_date.replace('T', ' ').replace('Z', ' UTC')),
        h('div', { class: 'muted small' }, 'runs at ', time(d.next_run.run_after))] : h('span', { class: 'muted' }, '—')),
      h('td', {}, h('div', { class: 'row', style: 'gap:2px', 'aria-label': 'Last runs, oldest first' },
        runs.length ? runs.map((r) => stateBox(r.state, { href: `#${dagPath(d.dag_id)}/runs/${enc(r.run_id)}`,
          title: `${r.run_id}: ${r.state}` })) : h('span', { class: 'muted small' }, 'no runs yet'))));
    const rows = [tr];
    if (d.import_errors && d.import_errors.length) {
      rows.push(h('tr', { class: 'import-errors' }, h('td', {}), h('td', { colspan: 4 },
        h('strong', {}, 'Import errors: '),
        d.import_errors.map((e) => h('div', { class: 'mono' }, typeof e === 'string' ? e
          : `${e.file || d.file || ''}${e.line ? `:${e.line}:${e.column || 0}` : ''}: ${e.message || JSON.stringify(e)}`)))));
    }
    return rows;
  }

  function draw() {
    const list = visible();
    count.textContent = `${list.length} of ${dags.length} DAGs`;
    replace(body, list.length ? list.map(row) : h('tr', {}, h('td', { colspan: 5, class: 'muted' }, dags.length ? 'No DAG matches.' : 'No DAGs yet: put DAG files in the DAGs folder.')));
  }

  async function load(list) {
    dags = list || await api.all('/dags');
    const tags = new Set(); const spaces = new Set();
    for (const d of dags) { (d.tags || []).forEach((t) => tags.add(t)); spaces.add(d.namespace); }
    options(tag, tags, 'All tags');
    options(ns, spaces, 'All namespaces');
    replace(status);
    draw();
  }

  for (const c of [search, tag, ns, paused]) c.addEventListener('input', draw);
  replace(el,
    h('h1', {}, 'DAGs'),
    h('div', { class: 'row', style: 'margin-bottom:.75rem' }, search, tag, ns, paused, count),
    status,
    h('div', { class: 'table-wrap' }, h('table', { id: 'dag-table' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Active'), h('th', {}, 'DAG'), h('th', {}, 'Schedule'),
        h('th', {}, 'Next run (local, UTC)'), h('th', {}, 'Last runs'))), body)));
  try {
    await load();
  } catch (e) {
    replace(status, errorBox(e));
  }
  search.focus();
  return {
    refresh: async () => {
      // Keep the focus on a toggle the user is on: redraw only when something changed.
      const before = JSON.stringify(dags);
      const fresh = await api.all('/dags');
      if (JSON.stringify(fresh) !== before) {
        const focused = document.activeElement && document.activeElement.dataset.dag;
        await load(fresh);
        if (focused) body.querySelector(`button[data-dag="${CSS.escape(focused)}"]`)?.focus();
      }
    },
  };
}
