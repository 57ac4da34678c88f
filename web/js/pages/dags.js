// The DAG list: search, filters by tag, namespace and paused, the pause
// toggle, each DAG's schedule with its timezone, its next run in local time
// and UTC, its last runs and its import errors. Filtered and paged on the
// server (50 a page), so ten thousand DAGs cost what fifty do. The search
// and the tag and namespace filters are in the address
// (#/dags?namespace=sales&tag=web&q=report), to bookmark or link to.
import { api, can, dagPath, enc } from '../api.js';
import { h, replace, stateBox, time, toast, errorBox } from '../ui.js';

const PAGE = 50;

export async function dagsPage(el, { query }) {
  let dags = [];
  let summary = { total: 0, matched: 0, tags: [], namespaces: [] };
  // Cursors of the pages seen (to go back); the one shown.
  let cursors = [null];
  let at = 0;
  let next = null;
  const search = h('input', { type: 'search', id: 'dag-search', placeholder: 'Search DAGs', 'aria-label': 'Search DAGs',
    value: query.get('q') || '' });
  const tag = h('select', { id: 'dag-tag', 'aria-label': 'Tag' });
  const ns = h('select', { id: 'dag-namespace', 'aria-label': 'Namespace' });
  const paused = h('select', { id: 'dag-paused', 'aria-label': 'Paused or active' },
    h('option', { value: '' }, 'All DAGs'), h('option', { value: 'active' }, 'Unpaused'), h('option', { value: 'paused' }, 'Paused'),
    h('option', { value: 'errors' }, 'With import errors'));
  const count = h('span', { class: 'muted small', 'aria-live': 'polite', id: 'dag-count' });
  const prev = h('button', { type: 'button', id: 'dags-prev', onclick: () => { at -= 1; reload(); } }, '← Previous');
  const more = h('button', { type: 'button', id: 'dags-next', onclick: () => { cursors[at + 1] = next; at += 1; reload(); } }, 'Next →');
  const body = h('tbody');
  const status = h('div');
  // The filters the address asks for, until their choices are known (the
  // first answer): a namespace no DAG names is a choice all the same.
  const wanted = new Map([[tag, query.get('tag') || ''], [ns, query.get('namespace') || '']]);

  function options(select, values, all) {
    const want = wanted.get(select);
    wanted.set(select, '');
    const keep = want || select.value;
    const list = want && !values.includes(want) ? [...values, want] : values;
    replace(select, h('option', { value: '' }, all), [...list].sort().map((v) => h('option', { value: v }, v)));
    select.value = list.includes(keep) ? keep : '';
  }
  const chosen = (select) => select.value || wanted.get(select);

  // The address follows the search and the filters (without a new history
  // entry, and only while this page is on screen).
  function keepInAddress() {
    if (!/^#\/dags(\?|$)/.test(location.hash)) return;
    const p = new URLSearchParams();
    if (search.value.trim()) p.set('q', search.value.trim());
    if (tag.value) p.set('tag', tag.value);
    if (ns.value) p.set('namespace', ns.value);
    const hash = `#/dags${p.toString() ? `?${p}` : ''}`;
    if (location.hash !== hash) history.replaceState(history.state, '', hash);
  }

  // The filters as the API's query.
  function filters() {
    const q = {};
    if (search.value.trim()) q.q = search.value.trim();
    if (chosen(tag)) q.tag = chosen(tag);
    if (chosen(ns)) q.namespace = chosen(ns);
    if (paused.value === 'paused') q.paused = true;
    if (paused.value === 'active') q.paused = false;
    if (paused.value === 'errors') q.import_errors = true;
    return q;
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
    const from = at * PAGE;
    count.textContent = summary.matched === summary.total ? `${summary.total.toLocaleString()} DAGs`
      : `${summary.matched.toLocaleString()} of ${summary.total.toLocaleString()} DAGs`;
    if (summary.matched > PAGE) count.textContent += ` · ${(from + 1).toLocaleString()}–${(from + dags.length).toLocaleString()} shown`;
    prev.disabled = at === 0;
    more.disabled = !next;
    prev.hidden = more.hidden = at === 0 && !next;
    replace(body, dags.length ? dags.map(row) : h('tr', {}, h('td', { colspan: 5, class: 'muted' }, summary.total ? 'No DAG matches.' : 'No DAGs yet: put DAG files in the DAGs folder.')));
  }

  // One page of the DAGs that match, and the counts and the filters' choices.
  async function fetchPage() {
    const q = filters();
    const cursor = cursors[at];
    const [page, sum] = await Promise.all([api.get('/dags', { ...q, limit: PAGE, ...(cursor ? { cursor } : {}) }),
      api.get('/dag-summary', q)]);
    return { page, sum };
  }
  function show({ page, sum }) {
    dags = page.items;
    next = page.next_cursor;
    summary = sum;
    options(tag, sum.tags, 'All tags');
    options(ns, sum.namespaces, 'All namespaces');
    replace(status);
    draw();
  }
  let asked = 0;  // the newest request wins: a slower earlier answer is dropped
  async function reload() {
    const mine = ++asked;
    try {
      const got = await fetchPage();
      if (mine === asked) show(got);
    } catch (e) {
      if (mine === asked) replace(status, errorBox(e));
    }
  }
  let typing = null;
  const refilter = () => { cursors = [null]; at = 0; keepInAddress(); reload(); };
  search.addEventListener('input', () => { clearTimeout(typing); typing = setTimeout(refilter, 150); });
  for (const c of [tag, ns, paused]) c.addEventListener('input', refilter);
  replace(el,
    h('h1', {}, 'DAGs'),
    h('div', { class: 'row', style: 'margin-bottom:.75rem' }, search, tag, ns, paused, count, prev, more),
    status,
    h('div', { class: 'table-wrap' }, h('table', { id: 'dag-table' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Active'), h('th', {}, 'DAG'), h('th', {}, 'Schedule'),
        h('th', {}, 'Next run (local, UTC)'), h('th', {}, 'Last runs'))), body)));
  await reload();
  search.focus();
  return {
    refresh: async () => {
      // Keep the focus on a toggle the user is on: redraw only when something changed.
      const before = JSON.stringify([dags, summary, next]);
      const mine = ++asked;
      const got = await fetchPage();
      if (mine !== asked) return;
      if (JSON.stringify([got.page.items, got.sum, got.page.next_cursor]) !== before) {
        const focused = document.activeElement && document.activeElement.dataset.dag;
        show(got);
        if (focused) body.querySelector(`button[data-dag="${CSS.escape(focused)}"]`)?.focus();
      }
    },
  };
}
