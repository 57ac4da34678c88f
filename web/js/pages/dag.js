// A DAG page: its schedule and next run, the grid of runs x tasks (paged on
// the server, newest first; a run at risk of missing its SLA is marked), the
// graph with the selected run's states, the duration history of each task,
// its versions, and the trigger form (params checked against the DAG's
// declared params before anything is sent).
import { api, can, dagPath, enc } from '../api.js';
import { h, replace, badge, time, toast, errorBox, openDialog, legend, TASK_STATES, FINISHED_RUN,
  localInputToIso, label, riskBadge } from '../ui.js';
import { createGrid } from '../grid.js';
import { createGraph } from '../graph.js';
import { createDurations } from '../durations.js';

const PAGE = 25;

export async function dagPage(el, { dag, query }) {
  let info = null;
  let view = query.get('view') || 'grid';
  let selectedRun = query.get('run');
  let version = query.get('version');
  const cursors = [null]; // the cursor of each page seen: [0] is the newest page
  let pageNo = 0;
  let grid = null; // the last grid answer
  let graphData = null;
  let extraColumn = null; // the selected run when it is not on the page
  let gridSeq = 0; // of loadGrid(): an answer older than the last one asked for is dropped
  let shown = false; // the first show() has run

  const gridC = createGrid({ dag, onSelectRun: (r) => go({ run: r }) });
  const durC = createDurations({ dag });
  const graphC = createGraph({ linkFor: (task) => (selectedRun ? `#${dagPath(dag)}/runs/${enc(selectedRun)}?task=${enc(task)}` : `#${dagPath(dag)}?view=graph`) });

  const head = h('div');
  const runInfo = h('div', { class: 'row small', id: 'selected-run', 'aria-live': 'polite' });
  const older = h('button', { type: 'button', id: 'grid-older', onclick: () => page(+1) }, '← Older runs');
  const newer = h('button', { type: 'button', id: 'grid-newer', onclick: () => page(-1) }, 'Newer runs →');
  const filter = h('input', { type: 'search', placeholder: 'Filter tasks', 'aria-label': 'Filter tasks', id: 'grid-filter',
    oninput: () => gridC.setFilter(filter.value) });
  const find = h('input', { type: 'search', placeholder: 'Find a task', 'aria-label': 'Find a task in the graph', id: 'graph-find',
    onkeydown: (ev) => { if (ev.key === 'Enter') { ev.preventDefault(); if (!graphC.focusTask(find.value.trim())) toast(`No task "${find.value}" in this graph`, { bad: true }); } } });
  const status = h('div');
  const tabs = h('div', { class: 'tabs', role: 'tablist' });
  const panel = h('div', { role: 'tabpanel' });

  function href(q) {
    const p = new URLSearchParams();
    const v = q.view ?? view; const r = q.run ?? selectedRun; const ver = q.version ?? version;
    if (v && v !== 'grid') p.set('view', v);
    if (r) p.set('run', r);
    if (ver) p.set('version', ver);
    const s = p.toString();
    return `#${dagPath(dag)}${s ? `?${s}` : ''}`;
  }
  function go(q) { location.hash = href(q); }

  function drawHead() {
    const d = info;
    const trigger = can.operate() && d.active
      ? h('button', { type: 'button', class: 'primary', id: 'trigger', onclick: openTrigger }, 'Trigger run') : null;
    const pause = h('button', { type: 'button', class: 'switch', role: 'switch', id: 'pause-toggle', 'aria-checked': String(!d.paused),
      'aria-label': d.paused ? 'Paused; press to unpause' : 'Unpaused; press to pause', disabled: !can.operate(),
      onclick: async () => {
        try { info = await api.patch(dagPath(dag), { paused: !d.paused }); toast(`${dag} ${info.paused ? 'paused' : 'unpaused'}`); drawHead(); }
        catch (e) { toast(e.message, { bad: true }); }
      } });
    replace(head,
      h('h1', {}, pause, dag, d.paused ? h('span', { class: 'badge' }, 'paused') : null, h('span', { class: 'spacer' }), trigger),
      d.description ? h('p', { class: 'muted' }, d.description) : null,
      h('div', { class: 'row small', style: 'margin-bottom:.5rem' },
        h('span', {}, 'Schedule: ', !d.schedule || !d.schedule.kind || d.schedule.kind === 'none' ? 'none (triggered only)'
          : d.schedule.kind === 'datasets' ? `datasets ${d.schedule.datasets.join(', ')}`
            : [h('code', {}, d.schedule.expression), d.timezone ? ` in ${d.timezone}` : '']),
        h('span', {}, 'Next run: ', d.next_run ? time(d.next_run.logical_date, { both: true }) : '—'),
        d.owner ? h('span', {}, `Owner: ${d.owner}`) : null,
        h('span', {}, 'Version: ', h('code', {}, (d.version || '—').slice(0, 12))),
        (d.tags || []).map((t) => h('span', { class: 'tag' }, t))),
      d.import_errors && d.import_errors.length ? h('div', { class: 'error-box' }, 'Import errors:\n',
        d.import_errors.map((e) => `${e.file || d.file}:${e.line || 0}:${e.column || 0}: ${e.message}\n`)) : null);
    replace(tabs, ['grid', 'graph', 'durations', 'versions'].map((v) => h('a', { role: 'tab', href: href({ view: v }), id: `tab-${v}`,
      'aria-selected': String(view === v) }, { grid: 'Grid', graph: 'Graph', durations: 'Durations', versions: 'Versions' }[v])));
  }

  function drawRunInfo() {
    const r = (grid && grid.runs.find((x) => x.run_id === selectedRun)) || extraColumn?.run;
    if (!r) { replace(runInfo, h('span', { class: 'muted' }, grid && grid.runs.length ? 'Select a run in the grid.' : 'No runs yet.')); return; }
    replace(runInfo, h('strong', {}, 'Run '), h('a', { href: `#${dagPath(dag)}/runs/${enc(r.run_id)}`, id: 'open-run' }, r.run_id),
      badge(r.state), riskBadge(r, { id: 'selected-run-risk' }), h('span', {}, r.run_type), h('span', {}, 'logical date ', time(r.logical_date, { both: true })),
      r.note ? h('span', { class: 'muted' }, `“${r.note}”`) : null);
  }

  async function loadGrid() {
    const seq = ++gridSeq;
    const at = pageNo;
    const next = await api.get(`${dagPath(dag)}/grid`, { limit: PAGE, cursor: cursors[at] });
    if (seq !== gridSeq) return false;
    grid = next;
    if (!selectedRun && grid.runs.length) selectedRun = grid.runs[0].run_id;
    extraColumn = null;
    if (selectedRun && !grid.runs.some((r) => r.run_id === selectedRun)) {
      try {
        const one = await api.get(`${dagPath(dag)}/grid`, { run_id: selectedRun });
        const m = new Map();
        one.tasks.forEach((t, i) => { const c = one.runs[0].cells[i]; if (c) m.set(t, typeof c === 'string' ? c : c.state); });
        extraColumn = { run: one.runs[0], states: m };
      } catch { /* the run is gone: nothing selected */ }
    }
    if (seq !== gridSeq) return false;
    if (next.next_cursor) cursors[at + 1] = next.next_cursor;
    older.disabled = !next.next_cursor;
    newer.disabled = at === 0;
    return true;
  }

  async function loadGraph() {
    graphData = await api.get(`${dagPath(dag)}/graph`, { version });
  }

  function states() {
    if (!selectedRun) return null;
    return gridC.column(selectedRun) || extraColumn?.states || null;
  }

  function drawPanel() {
    if (view === 'grid') {
      replace(panel, h('div', { class: 'row', style: 'margin-bottom:.5rem' }, older, newer, filter, h('span', { class: 'spacer' }), legend(TASK_STATES)), gridC.el);
      gridC.update(grid, selectedRun, null);
    } else if (view === 'graph') {
      gridC.update(grid, selectedRun, null); // keeps the columns for states()
      replace(panel, h('div', { class: 'row', style: 'margin-bottom:.5rem' }, find,
        version ? h('span', { class: 'small' }, 'Version ', h('code', {}, version.slice(0, 12)), ' ', h('a', { href: href({ version: '' }) }, 'current version')) : null,
        h('span', { class: 'spacer' }), legend(TASK_STATES)), graphC.el);
      if (graphData) graphC.show(graphData, states(), null);
    }
  }

  async function drawVersions() {
    const versions = await api.all(`${dagPath(dag)}/versions`, {}, 1000);
    replace(panel, h('div', { class: 'table-wrap' }, h('table', { id: 'versions' },
      h('thead', {}, h('tr', {}, ['Version', 'Registered', 'File', 'Git commit', ''].map((t) => h('th', {}, t)))),
      h('tbody', {}, versions.map((v) => h('tr', {},
        h('td', {}, h('code', {}, v.version.slice(0, 12)), v.version === info.version ? h('span', { class: 'tag' }, 'current') : null),
        h('td', {}, time(v.created_at)), h('td', { class: 'mono small' }, v.file),
        h('td', { class: 'mono small' }, v.git_commit ? `${v.git_commit.slice(0, 10)}${v.git_dirty ? ' (dirty)' : ''}` : '—'),
        h('td', {}, h('a', { href: href({ view: 'graph', version: v.version }) }, 'graph'))))))));
  }

  // The Durations tab: the tasks of the current version (its graph), in the
  // grid's order; their histories are asked for a page at a time.
  async function drawDurations() {
    let g;
    try {
      g = graphData && !version && graphData.version === info.version ? graphData : await api.get(`${dagPath(dag)}/graph`);
    } catch (e) { replace(panel, errorBox(e)); return; }
    const order = new Map(((grid && grid.tasks) || []).map((t, i) => [t, i]));
    const ids = g.nodes.map((n) => n.id).sort((a, b) => (order.get(a) ?? Infinity) - (order.get(b) ?? Infinity) || (a < b ? -1 : a > b ? 1 : 0));
    replace(panel, durC.el);
    durC.show(ids);
  }

  async function show() {
    shown = true;
    replace(status);
    drawHead();
    drawRunInfo();
    if (view === 'versions') await drawVersions();
    else if (view === 'durations') await drawDurations();
    else {
      if (view === 'graph' && (!graphData || (graphData.version !== (version || info.version)))) await loadGraph();
      drawPanel();
    }
  }

  async function page(delta) {
    const to = Math.max(0, pageNo + delta);
    if (to > 0 && cursors[to] === undefined) return; // not known yet
    older.disabled = newer.disabled = true;
    pageNo = to;
    try {
      if (await loadGrid()) { drawRunInfo(); drawPanel(); }
    } catch (e) {
      toast(e.message, { bad: true });
      older.disabled = !cursors[pageNo + 1];
      newer.disabled = pageNo === 0;
    }
  }

  function checkParams(text) {
    let v;
    try { v = JSON.parse(text || '{}'); } catch (e) { return { error: `Params are not valid JSON: ${e.message}` }; }
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return { error: 'Params must be a JSON object: {"name": value, ...}' };
    const declared = info.params || {};
    const names = Object.keys(declared);
    const kind = (x) => (x === null ? 'null' : Array.isArray(x) ? 'list' : typeof x === 'object' ? 'object' : typeof x);
    for (const [k, val] of Object.entries(v)) {
      if (k === 'dataset_events' && info.schedule && info.schedule.kind === 'datasets') continue;  // as the API
      if (!(k in declared)) return { error: `"${k}" is not a param of ${dag}; its params are: ${names.length ? names.join(', ') : 'none'}` };
      const want = kind(declared[k]);
      if (want !== 'null' && kind(val) !== want) return { error: `"${k}" must be a ${want === 'number' ? 'number' : want} like its default (${JSON.stringify(declared[k])}), got ${JSON.stringify(val)}` };
    }
    return { value: v };
  }

  function openTrigger() {
    const params = h('textarea', { id: 'trigger-params', name: 'params', spellcheck: 'false', rows: 8,
      'aria-describedby': 'trigger-params-help' }, JSON.stringify(info.params || {}, null, 2));
    const date = h('input', { type: 'datetime-local', id: 'trigger-date', step: '1' });
    const note = h('input', { type: 'text', id: 'trigger-note', maxlength: 10000 });
    const key = h('input', { type: 'text', id: 'trigger-key', maxlength: 200, 'aria-describedby': 'trigger-key-help' });
    const err = h('div', { class: 'field-error', role: 'alert', id: 'trigger-error' });
    const submit = h('button', { type: 'submit', class: 'primary', id: 'trigger-submit' }, 'Trigger');
    const form = h('form', { method: 'dialog' },
      h('label', {}, 'Params (JSON; the DAG\'s defaults are filled in)', params),
      h('div', { id: 'trigger-params-help', class: 'muted small' }, Object.keys(info.params || {}).length
        ? `Declared: ${Object.entries(info.params).map(([k, v]) => `${k} = ${JSON.stringify(v)}`).join(', ')}` : 'This DAG declares no params.'),
      h('label', {}, 'Logical date (your local time; empty: now)', date),
      h('label', {}, 'Note', note),
      h('label', {}, 'Idempotency key (optional)', key),
      h('div', { id: 'trigger-key-help', class: 'muted small' }, 'A key this DAG has seen returns its first run instead of making another.'),
      err,
      h('div', { class: 'row' }, submit, h('button', { type: 'button', onclick: () => dlg.close() }, 'Cancel')));
    params.addEventListener('input', () => { err.textContent = checkParams(params.value).error || ''; });
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const p = checkParams(params.value);
      if (p.error) { err.textContent = p.error; params.focus(); return; }
      const body = { params: p.value };
      if (date.value) {
        const iso = localInputToIso(date.value);
        if (!iso) { err.textContent = 'The logical date is not a valid date and time'; return; }
        body.logical_date = iso;
      }
      if (note.value.trim()) body.note = note.value.trim();
      if (key.value.trim()) body.idempotency_key = key.value.trim();
      submit.disabled = true;
      try {
        const { status: code, data: run } = await api.postWithStatus(`${dagPath(dag)}/runs`, body);
        dlg.close();
        const seen = code === 200;
        toast(seen ? `The key was seen: its run is ${run.run_id}` : `Triggered ${run.run_id}`,
          { link: h('a', { href: `#${dagPath(dag)}/runs/${enc(run.run_id)}` }, 'open') });
        pageNo = 0;
        go({ run: run.run_id });
        await refresh();
      } catch (e) {
        err.textContent = e.message;
        submit.disabled = false;
      }
    });
    const dlg = openDialog(`Trigger ${dag}`, form);
    params.focus();
  }

  async function refresh() {
    if (!shown) { // the first load failed: try it all again
      [info] = await Promise.all([api.get(dagPath(dag)), loadGrid(), view === 'graph' ? loadGraph() : null]);
      await show();
      return;
    }
    if (view === 'versions' || view === 'durations') return; // asked again when the tab is opened
    // A finished page far back does not change: only the newest page, or a
    // page with a run still going, is asked again.
    const live = pageNo === 0 || (grid && grid.runs.some((r) => !FINISHED_RUN.has(r.state)));
    const fresh = await api.get(dagPath(dag));
    const changed = JSON.stringify(fresh) !== JSON.stringify(info);
    info = fresh;
    if (changed) drawHead();
    // A new current version (the file changed): its graph.
    if (view === 'graph' && !version && graphData && info.version && graphData.version !== info.version) await loadGraph();
    if (live && await loadGrid()) {
      drawRunInfo();
      gridC.update(grid, selectedRun, null);
      if (view === 'graph' && graphData) graphC.show(graphData, states(), null);
    }
  }

  replace(el, head, runInfo, tabs, status, panel);
  try {
    // The DAG, its grid and (on the graph tab) its graph, all at once.
    [info] = await Promise.all([api.get(dagPath(dag)), loadGrid(), view === 'graph' ? loadGraph() : null]);
    await show();
  } catch (e) {
    replace(status, errorBox(e));
  }
  return {
    refresh,
    async onQuery(q) {
      const v = q.get('view') || 'grid';
      const r = q.get('run');
      const ver = q.get('version');
      const redraw = v !== view || ver !== version;
      view = v; version = ver;
      if (r !== selectedRun) { selectedRun = r; if (!grid || !grid.runs.some((x) => x.run_id === r)) await loadGrid(); }
      if (redraw || !shown) await show();
      else { drawRunInfo(); drawHead(); if (view === 'graph') { if (graphData) graphC.show(graphData, states(), null); } else gridC.update(grid, selectedRun, null); }
    },
  };
}
export { label };
