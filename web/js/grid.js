// The grid of a DAG page: tasks down, runs across (oldest left, newest
// right), one coloured glyph per task instance. Only the rows in view are in
// the document, so a DAG of thousands of tasks draws as fast as a small one;
// a mapped task's instances are rolled up into one cell with their count.
// A run at risk of missing its SLA (SPEC §7) has a "!" over its column and
// says so in its title.
import { h, replace, glyph, label, between, duration, utcTime } from './ui.js';
import { dagPath, enc } from './api.js';

const ROW = 22; // px, as --row in style.css
const OVERSCAN = 12;

export function createGrid({ dag, onSelectRun }) {
  let data = { tasks: [], runs: [] };
  let order = []; // indexes of data.tasks shown, after the filter
  let selectedRun = null;
  let selectedTask = null;
  let filter = '';
  const runsHead = h('div', { class: 'grid-runs', role: 'group', 'aria-label': 'Runs, oldest first' });
  const corner = h('div', { class: 'grid-corner' });
  const spacer = h('div', { class: 'grid-spacer' });
  const body = h('div', { class: 'grid-body', tabindex: '-1', 'aria-label': 'Task instances by task and run' }, spacer);
  const el = h('div', { class: 'grid', id: 'grid' }, h('div', { class: 'grid-head' }, corner, runsHead), body);
  let drawn = { from: -1, to: -1 };

  body.addEventListener('scroll', () => drawRows(false), { passive: true });
  new ResizeObserver(() => drawRows(true)).observe(body);

  function columns() { return [...data.runs].reverse(); }

  function drawHead() {
    const runs = columns();
    const longest = Math.max(1, ...runs.map((r) => between(r.started_at, r.ended_at) || 0));
    replace(corner, `${data.tasks.length} task${data.tasks.length === 1 ? '' : 's'} × ${runs.length} run${runs.length === 1 ? '' : 's'}`);
    replace(runsHead, runs.map((r) => {
      const ms = between(r.started_at, r.ended_at);
      const risk = r.at_risk ? ` · AT RISK: expected to end ${utcTime(r.expected_end)}, SLA deadline ${utcTime(r.sla_deadline)}` : '';
      const title = `${r.run_id} · ${label(r.state)} · ${r.run_type} · logical date ${r.logical_date}${ms !== null ? ` · ${duration(ms)}` : ''}${risk}`;
      return h('div', { class: `grid-run${r.run_id === selectedRun ? ' selected' : ''}${r.at_risk ? ' at-risk' : ''}`,
        dataset: r.at_risk ? { run: r.run_id, atRisk: 'true' } : { run: r.run_id } },
        r.at_risk ? h('span', { class: 'risk-mark', 'aria-hidden': 'true' }, '!') : null,
        h('div', { class: `bar s-${r.state}`, style: `height:${4 + Math.round(36 * (ms || 0) / longest)}px`, 'aria-hidden': 'true' }),
        h('a', { class: `st s-${r.state}`, href: `#${dagPath(dag)}?run=${enc(r.run_id)}`, title, 'aria-label': title,
          dataset: { state: r.state, run: r.run_id },
          onclick: (ev) => { ev.preventDefault(); onSelectRun(r.run_id); } }, glyph(r.state)));
    }));
  }

  function cell(run, c, task) {
    const href = `#${dagPath(dag)}/runs/${enc(run.run_id)}?task=${enc(task)}`;
    if (c === null || c === undefined) return h('span', { class: 'grid-empty', 'aria-hidden': 'true' });
    const state = typeof c === 'string' ? c : c.state;
    let title = `${task} in ${run.run_id}: ${label(state)}`;
    if (typeof c === 'object') {
      title += ` (${c.mapped} mapped: ${Object.entries(c.counts).map(([s, n]) => `${n} ${label(s)}`).join(', ')})`;
    }
    const a = h('a', { class: `st s-${state}${run.run_id === selectedRun && task === selectedTask ? ' selected' : ''}`,
      href, title, 'aria-label': title, dataset: { state, run: run.run_id, task } }, glyph(state));
    if (typeof c === 'object') a.append(h('span', { class: 'n', 'aria-hidden': 'true' }, c.mapped > 999 ? '1k+' : c.mapped));
    return a;
  }

  function drawRows(force) {
    const top = body.scrollTop;
    const height = body.clientHeight || 600;
    const from = Math.max(0, Math.floor(top / ROW) - OVERSCAN);
    const to = Math.min(order.length, Math.ceil((top + height) / ROW) + OVERSCAN);
    if (!force && from === drawn.from && to === drawn.to) return;
    drawn = { from, to };
    const runs = columns();
    const rows = [];
    for (let i = from; i < to; i++) {
      const t = order[i];
      const task = data.tasks[t];
      rows.push(h('div', { class: 'grid-row', style: `top:${i * ROW}px`, dataset: { task } },
        h('div', { class: 'grid-task', title: task }, task),
        h('div', { class: 'grid-cells' }, runs.map((r) => cell(r, r.cells[t], task)))));
    }
    spacer.style.height = `${order.length * ROW}px`;
    replace(spacer, rows);
  }

  function refilter() {
    const f = filter.toLowerCase();
    order = [];
    for (let i = 0; i < data.tasks.length; i++) if (!f || data.tasks[i].toLowerCase().includes(f)) order.push(i);
  }

  return {
    el,
    update(next, run, task) {
      data = next;
      selectedRun = run;
      selectedTask = task;
      refilter();
      drawHead();
      drawRows(true);
      el.dataset.ready = '1';
    },
    setFilter(f) {
      filter = f;
      refilter();
      body.scrollTop = 0;
      drawRows(true);
    },
    // The state of every task in one run of the page (for the graph), or null.
    column(runId) {
      const r = data.runs.find((x) => x.run_id === runId);
      if (!r) return null;
      const m = new Map();
      data.tasks.forEach((t, i) => { const c = r.cells[i]; if (c) m.set(t, typeof c === 'string' ? c : c.state); });
      return m;
    },
  };
}
