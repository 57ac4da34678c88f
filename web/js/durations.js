// The Durations tab of a DAG page (SPEC §7): one small chart per task of the
// current version, from GET /dags/ID/tasks/T/stats (its last 50 successful
// tries, oldest left), with the band from p50 to p90. The requests are
// bounded: a page of PAGE tasks at a time (filtered by name), at most
// CONCURRENCY answers awaited at once, each task asked once while the tab is
// open; a DAG of thousands of tasks asks only for the page on screen.
import { api, dagPath, enc } from './api.js';
import { h, replace, duration, localTime } from './ui.js';

const PAGE = 24;
const CONCURRENCY = 4;
const NS = 'http://www.w3.org/2000/svg';
const W = 300;
const H = 64;
const PAD = 5;

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}
const secs = (s) => (typeof s === 'number' && Number.isFinite(s) ? duration(s * 1000) : '—');
const num = (s) => (typeof s === 'number' && Number.isFinite(s) && s >= 0 ? s : null);

// A task's history as an inline SVG: a point per try (oldest left), the
// band from p50 to p90, the p50 line (solid) and the p90 line (dashed).
export function durationChart(st) {
  const points = (Array.isArray(st.durations) ? st.durations : []).filter((d) => d && num(d.seconds) !== null).reverse();
  const p50 = num(st.p50); const p90 = num(st.p90); const p99 = num(st.p99);
  const top = Math.max(...points.map((d) => d.seconds), p99 ?? 0, p90 ?? 0) * 1.1 || 1;
  const y = (s) => (H - PAD - (s / top) * (H - 2 * PAD)).toFixed(1);
  const x = (i) => (points.length === 1 ? W / 2 : PAD + (i * (W - 2 * PAD)) / (points.length - 1)).toFixed(1);
  const words = `${points.length} successful tr${points.length === 1 ? 'y' : 'ies'}, oldest first; p50 ${secs(p50)}, p90 ${secs(p90)}`;
  return svg('svg', { class: 'dur-chart', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `Durations: ${words}`,
    'data-points': points.length },
  svg('title', {}, words),
  svg('line', { class: 'axis', x1: 0, x2: W, y1: H - PAD, y2: H - PAD }),
  p50 !== null && p90 !== null ? svg('rect', { class: 'band', x: 0, width: W, y: y(p90), height: Math.max(0, y(p50) - y(p90)).toFixed(1) }) : null,
  p50 !== null ? svg('line', { class: 'p50', x1: 0, x2: W, y1: y(p50), y2: y(p50) }) : null,
  p90 !== null ? svg('line', { class: 'p90', x1: 0, x2: W, y1: y(p90), y2: y(p90) }) : null,
  points.length > 1 ? svg('polyline', { class: 'trend', points: points.map((d, i) => `${x(i)},${y(d.seconds)}`).join(' ') }) : null,
  points.map((d, i) => svg('circle', { class: 'pt', cx: x(i), cy: y(d.seconds), r: 2.5 },
    svg('title', {}, `${secs(d.seconds)}, ended ${localTime(d.ended_at)}`))));
}

function card(task, st) {
  const head = h('h3', { title: task }, task);
  if (!st) return h('div', { class: 'dur-card', dataset: { task, state: 'loading' } }, head, h('p', { class: 'muted small' }, 'Loading…'));
  if (st.error) return h('div', { class: 'dur-card', dataset: { task, state: 'error' } }, head, h('p', { class: 'field-error' }, st.error));
  if (!st.count) return h('div', { class: 'dur-card', dataset: { task, state: 'empty' } }, head, h('p', { class: 'muted small dur-none' }, 'No history yet: no successful try.'));
  return h('div', { class: 'dur-card', dataset: { task, state: 'ready', count: st.count } }, head,
    durationChart(st),
    h('div', { class: 'small dur-summary' }, `${st.count} tr${st.count === 1 ? 'y' : 'ies'} · p50 ${secs(st.p50)} · p90 ${secs(st.p90)} · p99 ${secs(st.p99)} · last ${secs(st.last)}`));
}

export function createDurations({ dag }) {
  let tasks = [];
  let pageNo = 0;
  let cache = new Map(); // task -> stats, or {error}
  let queue = [];
  let inflight = 0;
  let epoch = 0; // of reload(): answers asked for before it are dropped
  const filter = h('input', { type: 'search', placeholder: 'Filter tasks', 'aria-label': 'Filter tasks', id: 'dur-filter',
    oninput: () => { pageNo = 0; draw(); } });
  const prev = h('button', { type: 'button', id: 'dur-prev', onclick: () => { pageNo -= 1; draw(); } }, '← Previous');
  const next = h('button', { type: 'button', id: 'dur-next', onclick: () => { pageNo += 1; draw(); } }, 'Next →');
  const range = h('span', { class: 'muted small', id: 'dur-range' });
  const list = h('div', { class: 'dur-list', id: 'durations', 'aria-live': 'polite' });
  const cards = new Map(); // task -> its card on screen
  const el = h('div', {},
    h('div', { class: 'row', style: 'margin-bottom:.5rem' }, filter, prev, range, next, h('span', { class: 'spacer' }),
      h('span', { class: 'small muted' }, h('span', { class: 'dur-key' }), ' p50 ', h('span', { class: 'dur-key p90' }), ' p90 · the last 50 successful tries of each task, oldest left')),
    list);

  function shown() {
    const f = filter.value.trim().toLowerCase();
    return f ? tasks.filter((t) => t.toLowerCase().includes(f)) : tasks;
  }

  function draw() {
    const all = shown();
    const pages = Math.max(1, Math.ceil(all.length / PAGE));
    pageNo = Math.min(Math.max(0, pageNo), pages - 1);
    const items = all.slice(pageNo * PAGE, (pageNo + 1) * PAGE);
    prev.disabled = pageNo === 0;
    next.disabled = pageNo >= pages - 1;
    range.textContent = all.length ? `${pageNo * PAGE + 1}–${pageNo * PAGE + items.length} of ${all.length} tasks` : 'no task';
    cards.clear();
    for (const t of items) cards.set(t, card(t, cache.get(t)));
    replace(list, items.length ? [...cards.values()] : h('p', { class: 'muted' }, tasks.length ? 'No task matches.' : 'This DAG has no tasks.'));
    // Only this page's tasks are asked for; a task of an earlier page that
    // was not asked yet waits until its page is shown again.
    queue = items.filter((t) => !cache.has(t));
    pump();
  }

  function pump() {
    while (inflight < CONCURRENCY && queue.length) {
      const task = queue.shift();
      if (cache.has(task)) continue;
      const mine = epoch;
      inflight++;
      cache.set(task, null);
      api.get(`${dagPath(dag)}/tasks/${enc(task)}/stats`)
        .then((st) => st, (e) => ({ error: e.message }))
        .then((st) => {
          if (mine !== epoch) return;
          cache.set(task, st);
          const old = cards.get(task);
          if (old && old.isConnected) { const c = card(task, st); old.replaceWith(c); cards.set(task, c); }
        })
        .finally(() => { if (mine === epoch) { inflight--; pump(); } });
    }
  }

  return {
    el,
    // The tasks of the current version, in the grid's order; the histories
    // are asked for again.
    show(next) {
      tasks = next;
      epoch++;
      cache = new Map();
      queue = [];
      inflight = 0;
      draw();
    },
  };
}
