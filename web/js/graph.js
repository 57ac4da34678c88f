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

export function createGraph({ linkFor }) {
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('role', 'group');
  svg.setAttribute('aria-label', 'Graph of the DAG: arrow keys pan, + and - zoom, 0 fits');
  svg.setAttribute('tabindex', '0');
  const fitBtn = h('button', { type: 'button', title: 'Show the whole graph' }, 'Fit');
  const inBtn = h('button', { type: 'button', 'aria-label': 'Zoom in' }, '+');
  const outBtn = h('button', { type: 'button', 'aria-label': 'Zoom out' }, '−');
  const el = h('div', { class: 'graph-wrap', id: 'graph' }, svg, h('div', { class: 'graph-tools' }, fitBtn, inBtn, outBtn));
  let graph = null; // { nodes, edges, key }
  let box = null; // layout
  let view = { x: 0, y: 0, w: 1000, h: 600 };
  let nodeEls = new Map();

  const apply = () => svg.setAttribute('viewBox', `${view.x} ${view.y} ${view.w} ${view.h}`);
  function fit() {
    if (!box) return;
    const r = svg.getBoundingClientRect();
    const aspect = (r.width || 1000) / (r.height || 600);
    const pad = 20;
    let w = box.width + 2 * pad, hh = box.height + 2 * pad;
    if (w / hh < aspect) w = hh * aspect; else hh = w / aspect;
    // Never zoom in beyond 1:1 on a small graph.
    if (w < (r.width || 1000)) { w = r.width || 1000; hh = w / aspect; }
    view = { x: box.width / 2 - w / 2, y: box.height / 2 - hh / 2, w, h: hh };
    apply();
  }
  function zoom(f, cx = view.x + view.w / 2, cy = view.y + view.h / 2) {
    view = { x: cx - (cx - view.x) * f, y: cy - (cy - view.y) * f, w: view.w * f, h: view.h * f };
    apply();
  }
  fitBtn.addEventListener('click', fit);
  inBtn.addEventListener('click', () => zoom(0.8));
  outBtn.addEventListener('click', () => zoom(1.25));
  svg.addEventListener('wheel', (ev) => {
    ev.preventDefault();
    const r = svg.getBoundingClientRect();
    const cx = view.x + ((ev.clientX - r.left) / r.width) * view.w;
    const cy = view.y + ((ev.clientY - r.top) / r.height) * view.h;
    zoom(ev.deltaY > 0 ? 1.15 : 1 / 1.15, cx, cy);
  }, { passive: false });
  let drag = null;
  svg.addEventListener('pointerdown', (ev) => {
    if (ev.target.closest('a')) return;
    drag = { x: ev.clientX, y: ev.clientY, view: { ...view } };
    svg.setPointerCapture(ev.pointerId);
  });
  svg.addEventListener('pointermove', (ev) => {
    if (!drag) return;
    const r = svg.getBoundingClientRect();
    view.x = drag.view.x - ((ev.clientX - drag.x) / r.width) * view.w;
    view.y = drag.view.y - ((ev.clientY - drag.y) / r.height) * view.h;
    apply();
  });
  svg.addEventListener('pointerup', () => { drag = null; });
  svg.addEventListener('keydown', (ev) => {
    const step = 0.15;
    const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
    if (moves[ev.key] && ev.target === svg) {
      view.x += moves[ev.key][0] * view.w; view.y += moves[ev.key][1] * view.h; apply(); ev.preventDefault();
    } else if (ev.key === '+' || ev.key === '=') { zoom(0.8); ev.preventDefault(); }
    else if (ev.key === '-') { zoom(1.25); ev.preventDefault(); }
    else if (ev.key === '0') { fit(); ev.preventDefault(); }
  });

  function draw(states, selected) {
    const { nodes, edges } = graph;
    const { xy, index } = box;
    let d = '';
    for (const e of edges) {
      const a = index.get(e.from), b = index.get(e.to);
      if (a === undefined || b === undefined) continue;
      const x1 = xy[a].x + W, y1 = xy[a].y + H / 2, x2 = xy[b].x, y2 = xy[b].y + H / 2, mx = (x1 + x2) / 2;
      d += `M${x1} ${y1}C${mx} ${y1} ${mx} ${y2} ${x2} ${y2}`;
    }
    // One string and one parse: thousands of nodes cost a few milliseconds.
    let out = `<path class="edges" d="${d}"/>`;
    nodes.forEach((node, i) => {
      const s = (states && states.get(node.id)) || 'none';
      const name = node.id.length > 24 ? `${node.id.slice(0, 23)}…` : node.id;
      const title = `${node.id} (${node.type || 'task'}): ${states ? label(states.get(node.id)) : 'no run selected'}`;
      out += `<g class="node n-${s}${node.id === selected ? ' sel' : ''}" data-task="${esc(node.id)}" data-state="${s}" transform="translate(${xy[i].x} ${xy[i].y})">`
        + `<a href="${esc(linkFor(node.id))}" aria-label="${esc(title)}"><title>${esc(title)}</title>`
        + `<rect width="${W}" height="${H}"/><rect class="box" x="5" y="6" width="18" height="18" rx="3"/>`
        + `<text class="glyph" x="14" y="19" text-anchor="middle">${glyph(s)}</text>`
        + `<text x="30" y="19">${esc(name)}</text></a></g>`;
    });
    svg.innerHTML = out;
    nodeEls = new Map();
    for (const g of svg.querySelectorAll('g.node')) nodeEls.set(g.dataset.task, g);
  }

  return {
    el,
    // A new graph (a DAG version) is laid out and fitted; the same one only
    // has its states painted again.
    show(g, states, selected) {
      const key = `${g.dag_id}@${g.version}`;
      if (!graph || graph.key !== key) {
        graph = { ...g, key };
        box = layout(g.nodes, g.edges);
        draw(states, selected);
        fit();
      } else {
        for (const [id, gEl] of nodeEls) {
          const s = (states && states.get(id)) || 'none';
          if (gEl.dataset.state !== s) {
            gEl.dataset.state = s;
            gEl.setAttribute('class', `node n-${s}${id === selected ? ' sel' : ''}`);
            gEl.querySelector('.glyph').textContent = glyph(s);
            const t = `${id}: ${label(s === 'none' ? null : s)}`;
            gEl.querySelector('a').setAttribute('aria-label', t);
            gEl.querySelector('title').textContent = t;
          }
        }
      }
      el.dataset.ready = '1';
    },
    focusTask(id) {
      const i = box && box.index.get(id);
      if (i === undefined) return false;
      const p = box.xy[i];
      view = { ...view, x: p.x + W / 2 - view.w / 2, y: p.y + H / 2 - view.h / 2 };
      apply();
      nodeEls.get(id)?.querySelector('a')?.focus({ preventScroll: true });
      return true;
    },
  };
}
