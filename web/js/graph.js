// The graph view of a DAG page: the compiled graph laid out in layers, left
// to right (a task's layer is the longest path to it from a task with no
// upstream; the order inside a layer comes from barycentre sweeps, which
// untangle most crossings), drawn as SVG with the selected run's states.
// Pan with a drag or the arrow keys, zoom with the wheel or +/-; "Fit"
// shows it all. Every node is a link to its task in the selected run.
import { h, esc, glyph, label } from './ui.js';

const W = 180, H = 30, GX = 70, GY = 12;

export function layout(nodes, edges) {
  const index = new Map(nodes.map((n, i) => [n.id, i]));
  const n = nodes.length;
  const up = Array.from({ length: n }, () => []);
  const down = Array.from({ length: n }, () => []);
  for (const e of edges) {
    const a = index.get(e.from), b = index.get(e.to);
    if (a === undefined || b === undefined) continue;
    down[a].push(b);
    up[b].push(a);
  }
  // Kahn's order, then the longest path from a source.
  const indeg = up.map((u) => u.length);
  const queue = [];
  for (let i = 0; i < n; i++) if (indeg[i] === 0) queue.push(i);
  const layer = new Array(n).fill(0);
  const topo = [];
  for (let q = 0; q < queue.length; q++) {
    const v = queue[q];
    topo.push(v);
    for (const w of down[v]) {
      layer[w] = Math.max(layer[w], layer[v] + 1);
      if (--indeg[w] === 0) queue.push(w);
    }
  }
  if (topo.length < n) for (let i = 0; i < n; i++) if (indeg[i] > 0) topo.push(i); // a cycle: cannot compile, drawn anyway
  const layers = [];
  for (const v of topo) (layers[layer[v]] ||= []).push(v);
  const pos = new Float64Array(n);
  const place = () => layers.forEach((l) => l.forEach((v, i) => { pos[v] = i; }));
  place();
  const sweep = (from, neighbours) => {
    const l = layers[from];
    const key = new Float64Array(n);
    for (const v of l) {
      const nb = neighbours[v];
      if (!nb.length) { key[v] = pos[v]; continue; }
      let s = 0;
      for (const w of nb) s += pos[w];
      key[v] = s / nb.length;
    }
    l.sort((a, b) => key[a] - key[b] || pos[a] - pos[b]);
    l.forEach((v, i) => { pos[v] = i; });
  };
  for (let round = 0; round < 4; round++) {
    for (let i = 1; i < layers.length; i++) sweep(i, up);
    for (let i = layers.length - 2; i >= 0; i--) sweep(i, down);
  }
  const tallest = Math.max(1, ...layers.map((l) => l.length));
  const xy = new Array(n);
  layers.forEach((l, li) => {
    const offset = ((tallest - l.length) * (H + GY)) / 2;
    l.forEach((v, i) => { xy[v] = { x: li * (W + GX), y: offset + i * (H + GY) }; });
  });
  return { xy, width: layers.length * (W + GX) - GX, height: tallest * (H + GY) - GY, index };
}

// Below this height on screen (px) a node's name cannot be read: the graph
// is drawn as an overview of plain boxes, one element per task. Above it,
// only the tasks in and near the view are in the document, with their names
// and links, so that a DAG of thousands of tasks pans and zooms freely.
const MIN_DETAIL_PX = 9;
const SMALL = 400; // a graph this small is always drawn whole

export function createGraph({ linkFor }) {
  const NS = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('role', 'group');
  svg.setAttribute('tabindex', '0');
  const fitBtn = h('button', { type: 'button', title: 'Show the whole graph' }, 'Fit');
  const inBtn = h('button', { type: 'button', 'aria-label': 'Zoom in' }, '+');
  const outBtn = h('button', { type: 'button', 'aria-label': 'Zoom out' }, '−');
  const el = h('div', { class: 'graph-wrap', id: 'graph' }, svg, h('div', { class: 'graph-tools' }, fitBtn, inBtn, outBtn));
  let graph = null; // { nodes, edges, key }
  let box = null; // its layout
  let view = { x: 0, y: 0, w: 1000, h: 600 };
  let states = null;
  let selected = null;
  let signature = '';
  let rendered = null; // { detail, rect }
  let pending = false;

  const size = () => { const r = svg.getBoundingClientRect(); return { w: r.width || 1000, h: r.height || 600 }; };
  const isDetail = () => graph.nodes.length <= SMALL || (size().w / view.w) * H >= MIN_DETAIL_PX;
  function apply() {
    svg.setAttribute('viewBox', `${view.x} ${view.y} ${view.w} ${view.h}`);
    if (!pending && graph) {
      pending = true;
      requestAnimationFrame(() => { pending = false; render(false); });
    }
  }
  function fit() {
    if (!box) return;
    const r = size();
    const aspect = r.w / r.h;
    const pad = 20;
    let w = box.width + 2 * pad, hh = box.height + 2 * pad;
    if (w / hh < aspect) w = hh * aspect; else hh = w / aspect;
    if (w < r.w) { w = r.w; hh = w / aspect; } // never beyond 1:1 on a small graph
    view = { x: box.width / 2 - w / 2, y: box.height / 2 - hh / 2, w, h: hh };
    apply();
  }
  function zoom(f, cx = view.x + view.w / 2, cy = view.y + view.h / 2) {
    view = { x: cx - (cx - view.x) * f, y: cy - (cy - view.y) * f, w: view.w * f, h: view.h * f };
    apply();
  }
  // Centre a task at a zoom where names can be read.
  function zoomTo(i) {
    const p = box.xy[i];
    const r = size();
    const w = Math.min(view.w, (r.w * H) / (MIN_DETAIL_PX * 2.5));
    const hh = (w * r.h) / r.w;
    view = { x: p.x + W / 2 - w / 2, y: p.y + H / 2 - hh / 2, w, h: hh };
    apply();
    render(true);
  }
  fitBtn.addEventListener('click', fit);
  inBtn.addEventListener('click', () => zoom(0.8));
  outBtn.addEventListener('click', () => zoom(1.25));
  svg.addEventListener('wheel', (ev) => {
    ev.preventDefault();
    const r = svg.getBoundingClientRect();
    zoom(ev.deltaY > 0 ? 1.15 : 1 / 1.15, view.x + ((ev.clientX - r.left) / r.width) * view.w,
      view.y + ((ev.clientY - r.top) / r.height) * view.h);
  }, { passive: false });
  let drag = null;
  svg.addEventListener('pointerdown', (ev) => {
    if (ev.target.closest('a')) return;
    drag = { x: ev.clientX, y: ev.clientY, view: { ...view }, moved: false };
    svg.setPointerCapture(ev.pointerId);
  });
  svg.addEventListener('pointermove', (ev) => {
    if (!drag) return;
    const r = svg.getBoundingClientRect();
    if (Math.abs(ev.clientX - drag.x) + Math.abs(ev.clientY - drag.y) > 3) drag.moved = true;
    view.x = drag.view.x - ((ev.clientX - drag.x) / r.width) * view.w;
    view.y = drag.view.y - ((ev.clientY - drag.y) / r.height) * view.h;
    apply();
  });
  svg.addEventListener('pointerup', (ev) => {
    const wasClick = drag && !drag.moved;
    drag = null;
    // A click on a box of the overview zooms in on its task.
    const mini = wasClick && ev.target.closest && ev.target.closest('rect.mini');
    if (mini) zoomTo(box.index.get(mini.dataset.task));
  });
  svg.addEventListener('keydown', (ev) => {
    const step = 0.15;
    const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
    if (moves[ev.key] && ev.target === svg) {
      view.x += moves[ev.key][0] * view.w; view.y += moves[ev.key][1] * view.h; apply(); ev.preventDefault();
    } else if (ev.key === '+' || ev.key === '=') { zoom(0.8); ev.preventDefault(); }
    else if (ev.key === '-') { zoom(1.25); ev.preventDefault(); }
    else if (ev.key === '0') { fit(); ev.preventDefault(); }
  });

  function stateOf(id) { return (states && states.get(id)) || 'none'; }

  function render(force) {
    if (!graph) return;
    const detail = isDetail();
    const all = graph.nodes.length <= SMALL;
    const inside = (r) => view.x >= r.x && view.y >= r.y && view.x + view.w <= r.x + r.w && view.y + view.h <= r.y + r.h;
    if (!force && rendered && rendered.detail === detail && (all || !detail || inside(rendered.rect))) return;
    // The drawn area: the view and half a view around it.
    const everything = all || !detail;
    const rect = { x: view.x - view.w / 2, y: view.y - view.h / 2, w: view.w * 2, h: view.h * 2 };
    const { xy, index } = box;
    const inRect = (p) => everything
      || (p.x + W >= rect.x && p.x <= rect.x + rect.w && p.y + H >= rect.y && p.y <= rect.y + rect.h);
    let d = '';
    for (const e of graph.edges) {
      const a = index.get(e.from), b = index.get(e.to);
      if (a === undefined || b === undefined) continue;
      if (!everything && !inRect(xy[a]) && !inRect(xy[b])) continue;
      const x1 = xy[a].x + W, y1 = xy[a].y + H / 2, x2 = xy[b].x, y2 = xy[b].y + H / 2, mx = (x1 + x2) / 2;
      d += detail ? `M${x1} ${y1}C${mx} ${y1} ${mx} ${y2} ${x2} ${y2}` : `M${x1} ${y1}L${x2} ${y2}`;
    }
    // One string, parsed once: far cheaper than an element at a time.
    let out = `<path class="edges" d="${d}"/>`;
    graph.nodes.forEach((node, i) => {
      const p = xy[i];
      if (!inRect(p)) return;
      const s = stateOf(node.id);
      const t = esc(node.id);
      if (!detail) {
        out += `<rect class="mini n-${s}" data-task="${t}" data-state="${s}" x="${p.x}" y="${p.y}" width="${W}" height="${H}" rx="4"/>`;
        return;
      }
      const name = node.id.length > 24 ? `${node.id.slice(0, 23)}…` : node.id;
      const title = esc(`${node.id} (${node.type || 'task'}): ${states ? label(states.get(node.id)) : 'no run selected'}`);
      out += `<g class="node n-${s}${node.id === selected ? ' sel' : ''}" data-task="${t}" data-state="${s}" transform="translate(${p.x} ${p.y})">`
        + `<a href="${esc(linkFor(node.id))}" aria-label="${title}"><title>${title}</title>`
        + `<rect width="${W}" height="${H}"/><rect class="box" x="5" y="6" width="18" height="18" rx="3"/>`
        + `<text class="glyph" x="14" y="19" text-anchor="middle">${glyph(s)}</text>`
        + `<text x="30" y="19">${esc(name)}</text></a></g>`;
    });
    svg.innerHTML = out;
    svg.setAttribute('aria-label', detail
      ? `Graph of ${graph.nodes.length} tasks: arrow keys pan, + and - zoom, 0 fits; each task is a link`
      : `Graph of ${graph.nodes.length} tasks, zoomed out: zoom in (+) to read the names, or find a task by name`);
    el.dataset.mode = detail ? 'detail' : 'overview';
    rendered = { detail, rect };
  }

  return {
    el,
    // A new graph (a DAG version) is laid out and fitted; the same one is
    // drawn again only when its states changed.
    show(g, nextStates, nextSelected) {
      if (!g) return;
      const key = `${g.dag_id}@${g.version}`;
      const sig = nextStates ? [...nextStates].join('|') : '';
      states = nextStates;
      const changed = sig !== signature || nextSelected !== selected;
      signature = sig;
      selected = nextSelected;
      if (!graph || graph.key !== key) {
        graph = { ...g, key };
        box = layout(g.nodes, g.edges);
        rendered = null;
        fit();
        render(true);
      } else if (changed || !rendered) {
        render(true);
      }
      el.dataset.ready = '1';
    },
    focusTask(id) {
      const i = box && box.index.get(id);
      if (i === undefined) return false;
      zoomTo(i);
      svg.querySelector(`g.node[data-task="${CSS.escape(id)}"] a`)?.focus({ preventScroll: true });
      return true;
    },
  };
}
