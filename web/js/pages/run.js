// A run page: the run with its forecast (expected end; at risk of missing
// its SLA, or on time) and its actions (cancel), its task instances (a list
// with the progress and the slow / stuck flags of running tries, or a Gantt
// timeline of every try), and the panel of the selected task: its tries, why
// it is not running (waiting_for), when it last showed activity, its
// progress, a live tail of its log, its output and checkpoint, and the
// actions clear (with downstream, pinned or latest version) and mark.
// A foreach task is one row, its mapped instances rolled up; its panel pages
// through them (50 at a time, filtered by state), each with a panel of its own.
import { api, can, dagPath, runPath, enc } from '../api.js';
import { h, replace, badge, stateBox, time, ago, duration, between, toast, errorBox, jsonBlock, openDialog,
  FINISHED_RUN, FINISHED_TASK, label, flagBadges, progressBar, riskBadge } from '../ui.js';

const ROW = 22;
const LOG_POLL_MS = 1000;
const LOG_KEEP = 2 << 20; // characters of a log kept on screen
const MAPPED_PAGE = 50;

export async function runPage(el, { dag, run, query }) {
  const base = runPath(dag, run);
  let r = await api.get(base);
  let tis = [];
  let tries = [];
  let view = query.get('view') || 'tasks';
  let sel = query.get('task') ? { task: query.get('task'), map: Number(query.get('map') ?? -1), try: query.get('try') ? Number(query.get('try')) : null } : null;
  let detail = null;
  let detailTries = [];
  // The page of mapped instances shown for a foreach task: cursors of the
  // pages seen (to go back), the state filter, the items.
  let mappedPage = { task: null, state: '', cursors: [null], at: 0, items: [], next: null };

  const head = h('div');
  const tabs = h('div', { class: 'tabs', role: 'tablist' });
  const left = h('div');
  const right = h('aside', { class: 'panel', id: 'task-panel', 'aria-label': 'Task' });
  const status = h('div');
  const list = h('div', { class: 'vlist', id: 'task-list', role: 'list', 'aria-label': 'Task instances' });
  const listSpacer = h('div', { style: 'position:relative' });
  list.append(listSpacer);
  const filter = h('input', { type: 'search', placeholder: 'Filter tasks', 'aria-label': 'Filter tasks', id: 'task-filter',
    oninput: () => drawList(true) });
  const gantt = h('div', { class: 'vlist', id: 'gantt', 'aria-label': 'Timeline of every try' });
  const ganttSpacer = h('div', { style: 'position:relative' });
  gantt.append(ganttSpacer);
  const axis = h('div', { class: 'gantt-axis', 'aria-hidden': 'true' });
  let drawnList = '';
  let drawnGantt = '';

  let destroyed = false;

  // ---- log tail: its elements stay in the panel (scroll position, focus) ----
  const log = { key: null, task: null, map: -1, tryNo: null, offset: 0, complete: false, text: '', timer: null,
    busy: false, decoder: null };
  const logPre = h('pre', { class: 'log', id: 'log', tabindex: '0', 'aria-label': 'Log', 'aria-live': 'off' });
  const follow = h('input', { type: 'checkbox', id: 'log-follow', checked: true });
  const logState = h('span', { class: 'small muted', id: 'log-state' });
  const logTitle = h('h2', {}, 'Log');
  const logBox = h('section', { 'aria-label': 'Log' }, logTitle,
    h('div', { class: 'row' }, h('label', { class: 'inline' }, follow, 'Follow'), logState), logPre);
  const panelTop = h('div');
  const panelBottom = h('div');

  function href(q) {
    const p = new URLSearchParams();
    const v = q.view ?? view;
    const s = q.sel === undefined ? sel : q.sel;
    if (v !== 'tasks') p.set('view', v);
    if (s) { p.set('task', s.task); if (s.map >= 0) p.set('map', s.map); if (s.try) p.set('try', s.try); }
    const str = p.toString();
    return `#${base}${str ? `?${str}` : ''}`;
  }

  function drawHead() {
    const cancel = can.operate() && !FINISHED_RUN.has(r.state)
      ? h('button', { type: 'button', class: 'danger', id: 'cancel-run', onclick: cancelRun }, 'Cancel run') : null;
    replace(head,
      h('div', { class: 'small' }, h('a', { href: '#/dags' }, 'DAGs'), ' / ', h('a', { href: `#${dagPath(dag)}?run=${enc(run)}` }, dag)),
      h('h1', {}, `Run ${r.run_id}`, h('span', { id: 'run-state' }, badge(r.state)), riskBadge(r, { id: 'run-risk' }),
        h('span', { class: 'spacer' }), cancel),
      h('dl', { class: 'kv panel', style: 'margin-bottom:.5rem' },
        h('dt', {}, 'Type'), h('dd', {}, r.run_type, r.backfill_id ? [' · ', h('a', { href: `#/backfills?id=${r.backfill_id}` }, `backfill ${r.backfill_id}`)] : null),
        h('dt', {}, 'Logical date'), h('dd', {}, time(r.logical_date, { both: true })),
        h('dt', {}, 'Data interval'), h('dd', {}, time(r.data_interval_start), ' → ', time(r.data_interval_end)),
        h('dt', {}, 'Started / ended'), h('dd', {}, time(r.started_at), ' → ', time(r.ended_at),
          r.started_at ? h('span', { class: 'muted' }, ` (${duration(between(r.started_at, r.ended_at))})`) : null),
        forecastRows(),
        h('dt', {}, 'Params'), h('dd', { class: 'mono small' }, JSON.stringify(r.params)),
        h('dt', {}, 'Version'), h('dd', { class: 'mono small' }, r.dag_version.slice(0, 12)),
        r.note ? [h('dt', {}, 'Note'), h('dd', {}, r.note)] : null));
    replace(tabs, [['tasks', 'Tasks'], ['timeline', 'Timeline']].map(([v, t]) =>
      h('a', { role: 'tab', href: href({ view: v }), id: `tab-${v}`, 'aria-selected': String(view === v) }, t)));
  }

  // When the run is expected to end (each unfinished task at its p90) and
  // its SLA deadline, with how far apart they are.
  function forecastRows() {
    const out = [];
    const going = !FINISHED_RUN.has(r.state);
    if (going && (r.expected_end || r.sla_deadline)) {
      const gap = r.expected_end && r.sla_deadline ? between(r.sla_deadline, r.expected_end) : null;
      out.push(h('dt', {}, 'Expected end'), h('dd', { id: 'run-forecast', dataset: { risk: r.at_risk ? 'at_risk' : r.expected_end && r.sla_deadline ? 'on_time' : 'none' } },
        r.expected_end ? [time(r.expected_end), h('span', { class: 'muted' }, ` (${ago(r.expected_end)})`),
          gap === null ? null : r.at_risk ? h('strong', { class: 'risk-words' }, ` · ${duration(gap)} after the SLA deadline`)
            : h('span', {}, ` · ${duration(-gap)} before the SLA deadline`)]
          : h('span', { class: 'muted' }, 'no forecast yet: a task has no successful try to go by')));
    }
    if (r.sla_deadline) out.push(h('dt', {}, 'SLA deadline'), h('dd', { id: 'run-deadline' }, time(r.sla_deadline, { both: true })));
    return out;
  }

  async function cancelRun() {
    const form = h('form', { method: 'dialog' },
      h('p', {}, `Cancel run ${run}? Running tasks are killed; tasks that have not started become canceled.`),
      h('div', { class: 'row' },
        h('button', { type: 'submit', class: 'danger', id: 'confirm-cancel' }, 'Cancel the run'),
        h('button', { type: 'button', onclick: () => dlg.close() }, 'Keep it running')));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      try { r = await api.post(`${base}/cancel`); toast(`Run ${run} canceled`); dlg.close(); drawHead(); await refresh(); }
      catch (e) { toast(e.message, { bad: true }); }
    });
    const dlg = openDialog('Cancel run', form);
  }

  // ---- the task list and the timeline: only the rows in view are drawn ----
  function visibleTis() {
    const f = filter.value.trim().toLowerCase();
    return f ? tis.filter((t) => t.task_id.toLowerCase().includes(f)) : tis;
  }
  function windowOf(box, n) {
    const from = Math.max(0, Math.floor(box.scrollTop / ROW) - 10);
    const to = Math.min(n, Math.ceil((box.scrollTop + (box.clientHeight || 600)) / ROW) + 10);
    return [from, to];
  }
  function isSel(t) { return sel && sel.task === t.task_id && ((sel.map ?? -1) === t.map_index || !!t.mapped); }
  const ownOf = (task) => tis.find((t) => t.task_id === task && t.map_index < 0);
  const countsText = (m) => Object.entries(m.counts).map(([st, n]) => `${n.toLocaleString()} ${label(st)}`).join(', ');
  function drawList(force) {
    const items = visibleTis();
    const [from, to] = windowOf(list, items.length);
    const key = `${from}:${to}:${items.length}`;
    if (!force && key === drawnList) return;
    drawnList = key;
    listSpacer.style.height = `${items.length * ROW}px`;
    const rows = [];
    for (let i = from; i < to; i++) {
      const t = items[i];
      rows.push(h('a', { class: `vrow${isSel(t) ? ' selected' : ''}`, role: 'listitem', style: `top:${i * ROW}px`,
        href: href({ sel: { task: t.task_id, map: t.map_index, try: null } }), dataset: { task: t.task_id, state: t.state },
        'aria-current': isSel(t) ? 'true' : null },
      stateBox(t.mapped ? t.mapped.state : t.state), h('span', {}, t.task_id, t.map_index >= 0 ? `[${t.map_index}]` : ''),
      t.mapped
        ? h('span', { class: 'muted small' }, `${t.mapped.mapped.toLocaleString()} mapped: ${countsText(t.mapped)}`,
          t.started_at ? ` · ${duration(between(t.started_at, t.ended_at))}` : '')
        : [h('span', { class: 'muted small' }, label(t.state), t.try_number ? ` · try ${t.try_number}/${t.max_tries}` : '',
          t.started_at ? ` · ${duration(between(t.started_at, t.ended_at))}` : ''),
        flagBadges(t.flags), t.state === 'running' ? progressBar(t.progress) : null]));
    }
    replace(listSpacer, rows);
  }
  list.addEventListener('scroll', () => drawList(false), { passive: true });

  function drawGantt(force) {
    const shown = tries.filter((y) => y.started_at || y.queued_at);
    const starts = shown.map((y) => new Date(y.queued_at || y.started_at).getTime());
    const t0 = Math.min(r.started_at ? new Date(r.started_at).getTime() : Infinity, ...starts);
    const ends = shown.map((y) => (y.ended_at ? new Date(y.ended_at).getTime() : Date.now()));
    const t1 = Math.max(t0 + 1, r.ended_at ? new Date(r.ended_at).getTime() : Date.now(), ...ends);
    const span = t1 - t0;
    const [from, to] = windowOf(gantt, shown.length);
    const key = `${from}:${to}:${shown.length}:${span}`;
    if (!force && key === drawnGantt) return;
    drawnGantt = key;
    if (!shown.length) { replace(ganttSpacer, h('p', { class: 'muted', style: 'padding:.5rem' }, 'No task has started yet.')); replace(axis); return; }
    replace(axis, h('span', {}, 'try'), h('div', { class: 'ticks' }, [0, 0.25, 0.5, 0.75, 1].map((f) => h('span', {}, `+${duration(span * f)}`))));
    ganttSpacer.style.height = `${shown.length * ROW}px`;
    const pct = (t) => `${(100 * (t - t0)) / span}%`;
    const rows = [];
    for (let i = from; i < to; i++) {
      const y = shown[i];
      const q = y.queued_at ? new Date(y.queued_at).getTime() : null;
      const s = y.started_at ? new Date(y.started_at).getTime() : null;
      const e = y.ended_at ? new Date(y.ended_at).getTime() : Date.now();
      const title = `${y.task_id}${y.map_index >= 0 ? `[${y.map_index}]` : ''} try ${y.try_number}: ${label(y.state)}` +
        (s ? `, ${duration(e - s)}` : '') + (y.worker ? ` on ${y.worker}` : '');
      rows.push(h('a', { class: 'vrow gantt-row', style: `top:${i * ROW}px`, title, 'aria-label': title,
        href: href({ sel: { task: y.task_id, map: y.map_index, try: y.try_number } }), dataset: { task: y.task_id, state: y.state } },
      h('span', { class: 'gantt-label' }, y.task_id, y.map_index >= 0 ? `[${y.map_index}]` : '', h('span', { class: 'muted' }, ` #${y.try_number}`)),
      h('span', { class: 'gantt-track' },
        q && s && s > q ? h('span', { class: 'gantt-queue', style: `left:${pct(q)};width:${pct(t0 + s - q)}` }) : null,
        s ? h('span', { class: `gantt-bar s-${y.state}`, style: `left:${pct(s)};width:calc(${pct(t0 + Math.max(e - s, 0))})` }) : null)));
    }
    replace(ganttSpacer, rows);
  }
  gantt.addEventListener('scroll', () => drawGantt(false), { passive: true });

  function drawLeft() {
    if (view === 'timeline') replace(left, axis, gantt, h('p', { class: 'muted small' }, 'Grey: waiting in the queue; coloured: running, by the try\'s state.'));
    else replace(left, h('div', { class: 'row', style: 'margin-bottom:.5rem' }, filter, h('span', { class: 'muted small' }, `${tis.length} tasks`)), list);
  }

  // ---- the task panel ----
  // Redraws the panel around the log, keeping the focus on the control that
  // had it (the panel is redrawn whenever the task changes).
  function drawPanel() {
    const focused = document.activeElement && document.activeElement.id;
    drawPanelParts();
    if (focused && document.activeElement !== document.getElementById(focused)) document.getElementById(focused)?.focus();
  }
  function drawPanelParts() {
    if (!sel || !detail) {
      startLog(null);
      replace(right, h('p', { class: 'muted' }, sel ? `Loading ${sel.task}…` : 'Select a task to see its tries, log and actions.'));
      return;
    }
    const d = detail;
    const own = ownOf(d.task_id);
    if (d.map_index < 0 && own && own.mapped) return drawMappedPanel(d, own.mapped);
    const running = d.state === 'running';
    const mapped = d.map_index >= 0;
    const acts = can.operate() ? h('div', { style: 'margin:.5rem 0' }, h('div', { class: 'row' },
      h('button', { type: 'button', id: 'clear-task', onclick: clearTask }, 'Clear…'),
      h('button', { type: 'button', id: 'mark-success', onclick: () => mark('success') }, 'Mark success'),
      h('button', { type: 'button', id: 'mark-failed', class: 'danger', onclick: () => mark('failed') }, 'Mark failed')),
    mapped ? h('p', { class: 'muted small' }, `Clear and mark act on every instance of ${d.task_id}.`) : null) : null;
    const activity = d.last_activity_at ? [time(d.last_activity_at), h('span', { class: 'muted' }, ` (${ago(d.last_activity_at)})`)] : '—';
    const shownTry = sel.try || (detailTries.length ? detailTries[detailTries.length - 1].try_number : null);
    replace(panelTop,
      mapped && own && own.mapped ? h('p', { class: 'small' }, h('a', { href: href({ sel: { task: d.task_id, map: -1, try: null } }), id: 'all-mapped' },
        `← all ${own.mapped.mapped.toLocaleString()} instances of ${d.task_id}`)) : null,
      h('h2', { id: 'task-title' }, d.task_id, mapped ? `[${d.map_index}]` : '', ' ', h('span', { id: 'task-state' }, badge(d.state)),
        ' ', h('span', { id: 'task-flags' }, flagBadges(d.flags))),
      mapped && d.item !== null && d.item !== undefined ? h('p', { class: 'small' }, 'Item: ', h('code', { id: 'task-item' }, short(JSON.stringify(d.item), 200))) : null,
      acts,
      d.waiting_for && d.waiting_for.length && !FINISHED_TASK.has(d.state) && !running
        ? h('div', { id: 'waiting-for' }, h('strong', {}, 'Waiting for:'), h('ul', { class: 'reasons' }, d.waiting_for.map((w) => h('li', {}, w)))) : null,
      h('dl', { class: 'kv' },
        h('dt', {}, 'Try'), h('dd', {}, `${d.try_number} of ${d.max_tries}`),
        h('dt', {}, 'Queue / pool'), h('dd', {}, `${d.queue} / ${d.pool}`, ` · priority ${d.priority}`),
        h('dt', {}, 'Worker'), h('dd', {}, d.worker || '—'),
        h('dt', {}, 'Started / ended'), h('dd', {}, time(d.started_at), ' → ', time(d.ended_at),
          d.started_at ? h('span', { class: 'muted' }, ` (${duration(between(d.started_at, d.ended_at))})`) : null),
        h('dt', {}, 'Last activity'), h('dd', { id: 'last-activity', title: 'when the try last wrote a log line, a checkpoint or progress' }, activity),
        running && d.progress ? [h('dt', {}, 'Progress'), h('dd', { id: 'task-progress' }, progressBar(d.progress),
          d.progress.at ? h('span', { class: 'muted small' }, ` (${ago(d.progress.at)})`) : null)] : null,
        h('dt', {}, 'Exit code'), h('dd', {}, d.exit_code ?? '—'),
        h('dt', {}, 'Reason'), h('dd', {}, d.reason || '—')),
      h('h2', {}, 'Tries'),
      detailTries.length ? h('div', { class: 'table-wrap' }, h('table', { id: 'tries' },
        h('thead', {}, h('tr', {}, ['#', 'State', 'Worker', 'Started', 'Took', 'Exit', ''].map((x) => h('th', {}, x)))),
        h('tbody', {}, detailTries.map((y) => h('tr', {},
          h('td', {}, y.try_number), h('td', {}, badge(y.state)), h('td', { class: 'small' }, y.worker || '—'),
          h('td', { class: 'small' }, time(y.started_at)), h('td', { class: 'small' }, y.started_at ? duration(between(y.started_at, y.ended_at)) : '—'),
          h('td', {}, y.exit_code ?? '—'),
          h('td', {}, y.try_number === shownTry ? h('strong', {}, 'log shown')
            : h('a', { href: href({ sel: { ...sel, try: y.try_number } }) }, 'log'))))))) : h('p', { class: 'muted' }, 'Not tried yet.'));
    logTitle.textContent = shownTry ? `Log of try ${shownTry}` : 'Log';
    replace(panelBottom,
      h('h2', {}, 'Output'), d.output ? jsonBlock(d.output) : h('p', { class: 'muted' }, 'No output.'),
      h('h2', {}, 'Checkpoint'), d.checkpoint !== null && d.checkpoint !== undefined
        ? [h('p', { class: 'muted small' }, `${d.checkpoint_bytes} bytes`), h('pre', { class: 'json', id: 'checkpoint' }, d.checkpoint)]
        : h('p', { class: 'muted' }, 'No checkpoint.'));
    if (right.firstChild !== panelTop) replace(right, panelTop, logBox, panelBottom);
    startLog(shownTry);
  }

  // A foreach task: its roll-up, its actions (on every instance), and its
  // mapped instances a page at a time.
  function drawMappedPanel(d, m) {
    startLog(null);
    const acts = can.operate() ? h('div', { style: 'margin:.5rem 0' }, h('div', { class: 'row' },
      h('button', { type: 'button', id: 'clear-task', onclick: clearTask }, 'Clear…'),
      h('button', { type: 'button', id: 'mark-success', onclick: () => mark('success') }, 'Mark success'),
      h('button', { type: 'button', id: 'mark-failed', class: 'danger', onclick: () => mark('failed') }, 'Mark failed')),
    h('p', { class: 'muted small' }, `Clear and mark act on every instance of ${d.task_id}.`)) : null;
    const stateSel = h('select', { id: 'mapped-state', 'aria-label': 'Show instances in state' },
      h('option', { value: '' }, `every state (${m.mapped.toLocaleString()})`),
      Object.entries(m.counts).map(([st, n]) => h('option', { value: st, selected: mappedPage.state === st }, `${label(st)} (${n.toLocaleString()})`)));
    stateSel.addEventListener('change', async () => {
      mappedPage = { ...mappedPage, state: stateSel.value, cursors: [null], at: 0 };
      await reloadMapped();
    });
    const page = mappedPage;
    const from = page.at * MAPPED_PAGE;
    const nav = h('div', { class: 'row' },
      h('button', { type: 'button', id: 'mapped-prev', disabled: page.at === 0, onclick: () => { mappedPage.at -= 1; reloadMapped(); } }, '← Previous'),
      h('span', { class: 'muted small', id: 'mapped-range' }, page.items.length ? `${from + 1}–${from + page.items.length}` : 'none'),
      h('button', { type: 'button', id: 'mapped-next', disabled: !page.next, onclick: () => {
        mappedPage.cursors[mappedPage.at + 1] = mappedPage.next; mappedPage.at += 1; reloadMapped(); } }, 'Next →'));
    replace(right,
      h('h2', { id: 'task-title' }, d.task_id, ' ', h('span', { id: 'task-state' }, badge(m.state))),
      h('p', { id: 'mapped-summary' }, `${m.mapped.toLocaleString()} mapped instances: ${countsText(m)}`),
      acts,
      d.reason ? h('p', { class: 'small' }, 'Reason: ', d.reason) : null,
      h('div', { class: 'row' }, stateSel, nav),
      h('div', { class: 'table-wrap' }, h('table', { id: 'mapped' },
        h('thead', {}, h('tr', {}, ['#', 'Item', 'State', 'Try', 'Took'].map((x) => h('th', {}, x)))),
        h('tbody', {}, page.items.map((t) => h('tr', { dataset: { map: t.map_index, state: t.state } },
          h('td', {}, h('a', { href: href({ sel: { task: t.task_id, map: t.map_index, try: null } }) }, t.map_index)),
          h('td', { class: 'mono small' }, short(JSON.stringify(t.item), 60)),
          h('td', {}, badge(t.state)),
          h('td', {}, t.try_number ? `${t.try_number}/${t.max_tries}` : '—'),
          h('td', { class: 'small' }, t.started_at ? duration(between(t.started_at, t.ended_at)) : '—')))))));
  }
  function short(text, n) { return text && text.length > n ? `${text.slice(0, n - 1)}…` : text; }
  async function loadMapped() {
    const task = sel.task;
    if (mappedPage.task !== task) mappedPage = { task, state: '', cursors: [null], at: 0, items: [], next: null };
    const q = { task_id: task, mapped: true, limit: MAPPED_PAGE };
    if (mappedPage.state) q.state = mappedPage.state;
    const cursor = mappedPage.cursors[mappedPage.at];
    if (cursor) q.cursor = cursor;
    const res = await api.get(`${base}/tasks`, q);
    mappedPage.items = res.items;
    mappedPage.next = res.next_cursor;
  }
  async function reloadMapped() {
    try { await loadMapped(); } catch (e) { toast(e.message, { bad: true }); }
    drawPanel();
  }

  function clearTask() {
    const down = h('input', { type: 'checkbox', id: 'clear-downstream', checked: true });
    const ver = h('select', { id: 'clear-version' }, h('option', { value: 'pinned' }, 'pinned: the run\'s own version'),
      h('option', { value: 'latest' }, 'latest: move the run to the current version'));
    const err = h('div', { class: 'field-error', role: 'alert' });
    const form = h('form', { method: 'dialog' },
      h('p', {}, `Clear ${sel.task}: it runs again, and its try counter goes on.`),
      h('label', { class: 'inline' }, down, 'Also clear what depends on it (downstream)'),
      h('label', {}, 'DAG version', ver), err,
      h('div', { class: 'row' }, h('button', { type: 'submit', class: 'primary', id: 'confirm-clear' }, 'Clear'),
        h('button', { type: 'button', onclick: () => dlg.close() }, 'Cancel')));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      try {
        await api.post(`${base}/tasks/${enc(sel.task)}/clear`, { downstream: down.checked, version: ver.value });
        dlg.close();
        toast(`Cleared ${sel.task}${down.checked ? ' and its downstream' : ''}`);
        sel = { ...sel, try: null };
        await refresh();
      } catch (e) { err.textContent = e.message; }
    });
    const dlg = openDialog(`Clear ${sel.task}`, form);
  }

  async function mark(state) {
    try {
      await api.post(`${base}/tasks/${enc(sel.task)}/state`, { state });
      toast(`Marked ${sel.task} ${state}`);
      await refresh();
    } catch (e) { toast(e.message, { bad: true }); }
  }

  // The log of one try of one task instance, followed from its last byte;
  // bytes are decoded as one stream, so a character split between two
  // answers comes out whole.
  function startLog(tryNo) {
    const key = !destroyed && sel && tryNo ? `${sel.task}|${sel.map}|${tryNo}` : null;
    if (key === log.key) return;
    clearTimeout(log.timer);
    Object.assign(log, { key, task: sel && sel.task, map: sel ? sel.map : -1, tryNo, offset: 0, complete: false,
      text: '', busy: false, decoder: new TextDecoder('utf-8') });
    logPre.textContent = key ? '' : 'No try yet.';
    logState.textContent = '';
    if (key) pollLog();
  }
  async function pollLog() {
    const key = log.key;
    if (!key || log.busy || destroyed) return;
    log.busy = true;
    try {
      const q = { try: log.tryNo, offset: log.offset };
      if (log.map >= 0) q.map_index = log.map;
      const res = await api.raw(`${base}/tasks/${enc(log.task)}/logs`, q);
      const bytes = new Uint8Array(await res.arrayBuffer());
      if (key !== log.key) return;
      const complete = res.headers.get('X-Baton-Log-Complete') === 'true';
      const text = log.decoder.decode(bytes, { stream: !complete });
      log.offset = Number(res.headers.get('X-Baton-Log-Next-Offset') || log.offset + bytes.length);
      log.complete = complete;
      if (text) {
        log.text += text;
        if (log.text.length > LOG_KEEP) log.text = `[… earlier lines not shown]\n${log.text.slice(-LOG_KEEP)}`;
        logPre.textContent = log.text;
        if (follow.checked) logPre.scrollTop = logPre.scrollHeight;
      } else if (!log.text) logPre.textContent = log.complete ? '(empty log)' : '(no output yet)';
      logState.textContent = log.complete ? `complete · ${log.offset} bytes` : `streaming · ${log.offset} bytes`;
      logPre.dataset.complete = String(log.complete);
    } catch (e) {
      if (key === log.key) logState.textContent = e.message;
    } finally {
      log.busy = false;
    }
    if (key === log.key && !log.complete && !destroyed) log.timer = setTimeout(pollLog, LOG_POLL_MS);
  }

  async function loadDetail() {
    if (!sel) { detail = null; detailTries = []; return; }
    const own = ownOf(sel.task);
    if (sel.map < 0 && own && own.mapped) {
      // A foreach task (a link from the grid or the SLA page names no
      // index): the task and a page of its mapped instances.
      const [d] = await Promise.all([api.get(`${base}/tasks/${enc(sel.task)}`), loadMapped()]);
      detail = d;
      detailTries = [];
      return;
    }
    const q = sel.map >= 0 ? { map_index: sel.map } : {};
    const [d, ys] = await Promise.all([api.get(`${base}/tasks/${enc(sel.task)}`, q),
      api.get(`${base}/tasks/${enc(sel.task)}/tries`, { ...q, limit: 1000 })]);
    detail = d;
    detailTries = ys.items;
  }

  async function load() {
    [r, tis] = await Promise.all([api.get(base), api.all(`${base}/tasks`, { map_index: -1 })]);
    if (view === 'timeline') tries = await api.all(`${base}/tries`);
  }

  async function refresh() {
    if (destroyed) return;
    const before = JSON.stringify([r, tis, tries, detail, detailTries, mappedPage]);
    await load();
    let failed = null;
    try { await loadDetail(); } catch (e) { detail = null; failed = e; }
    if (destroyed) return;
    if (failed) {
      startLog(null);
      replace(right, errorBox(failed));
    } else if (JSON.stringify([r, tis, tries, detail, detailTries, mappedPage]) === before) {
      if (view === 'timeline' && !FINISHED_RUN.has(r.state)) drawGantt(true); // the running bars grow
      return;
    }
    drawHead();
    if (view === 'timeline') drawGantt(true); else drawList(true);
    if (!failed) drawPanel();
  }

  replace(el, head, tabs, status, h('div', { class: 'run-layout' }, left, right));
  try {
    await load();
    await loadDetail();
  } catch (e) {
    replace(status, errorBox(e));
  }
  drawHead();
  drawLeft();
  if (view === 'timeline') drawGantt(true); else drawList(true);
  drawPanel();
  return {
    refresh,
    destroy() { destroyed = true; clearTimeout(log.timer); log.key = null; },
    async onQuery(q) {
      const v = q.get('view') || 'tasks';
      const t = q.get('task');
      const next = t ? { task: t, map: Number(q.get('map') ?? -1), try: q.get('try') ? Number(q.get('try')) : null } : null;
      const changedView = v !== view;
      view = v;
      const changedTask = JSON.stringify(next) !== JSON.stringify(sel);
      sel = next;
      if (changedView) { if (view === 'timeline') tries = await api.all(`${base}/tries`); drawHead(); drawLeft(); }
      if (view === 'timeline') drawGantt(true); else drawList(true);
      if (changedTask) {
        detail = null;
        drawPanel();
        try { await loadDetail(); drawPanel(); } catch (e) { startLog(null); replace(right, errorBox(e)); }
      }
    },
  };
}
