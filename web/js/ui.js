// Small DOM and formatting helpers shared by every page: an element builder,
// state badges (colour + glyph + name, so that no state is told by colour
// alone), times in local time and UTC, durations, toasts and dialogs.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'value') el.value = v;
    else if (k === 'checked') el.checked = !!v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

export const TASK_STATES = ['pending', 'scheduled', 'queued', 'running', 'waiting', 'up_for_retry', 'success',
  'failed', 'upstream_failed', 'skipped', 'canceled'];
export const RUN_STATES = ['queued', 'running', 'success', 'failed', 'canceled'];
export const FINISHED_TASK = new Set(['success', 'failed', 'upstream_failed', 'skipped', 'canceled']);
export const FINISHED_RUN = new Set(['success', 'failed', 'canceled']);

const GLYPHS = {
  success: '✓', failed: '✕', running: '▶', queued: '…', scheduled: '◷', pending: '○', waiting: '‖',
  up_for_retry: '↻', upstream_failed: '⇡', skipped: '»', canceled: '⊘', none: '·',
};
export const glyph = (state) => GLYPHS[state] || '?';
export const label = (state) => (state ? state.replace(/_/g, ' ') : 'no task');

// A square with the state's colour and glyph; its name for screen readers and
// on hover.
export function stateBox(state, { title, href, tag } = {}) {
  const s = state || 'none';
  const el = h(href ? 'a' : tag || 'span', { class: `st s-${s}`, title: title || label(state), href,
    'aria-label': title || label(state), dataset: { state: s } }, glyph(s));
  return el;
}

export function badge(state) {
  const s = state || 'none';
  return h('span', { class: 'badge', dataset: { state: s } }, h('span', { class: `st s-${s}`, 'aria-hidden': 'true' }, glyph(s)), label(state));
}

export function legend(states) {
  return h('div', { class: 'legend', 'aria-label': 'Legend' },
    states.map((s) => h('span', { class: 'row', style: 'gap:.25rem' }, h('span', { class: `st s-${s}`, 'aria-hidden': 'true' }, glyph(s)), label(s))));
}

const pad = (n, w = 2) => String(n).padStart(w, '0');

// "2026-12-01 14:05:00" in the browser's time zone.
export function localTime(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}
export function utcTime(iso) {
  if (!iso) return '—';
  return iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z').replace(/Z$/, ' UTC');
}
// A time element that shows local time and says UTC on hover.
export function time(iso, { both = false } = {}) {
  if (!iso) return h('span', { class: 'muted' }, '—');
  if (both) {
    return h('span', {}, h('time', { datetime: iso }, localTime(iso)), h('span', { class: 'muted small' }, ` (${utcTime(iso)})`));
  }
  return h('time', { datetime: iso, title: utcTime(iso) }, localTime(iso));
}

export function duration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return '—';
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  let s = Math.round(ms / 1000);
  if (s < 60) return `${(ms / 1000).toFixed(ms < 10000 ? 1 : 0)} s`;
  const d = Math.floor(s / 86400); s -= d * 86400;
  const hh = Math.floor(s / 3600); s -= hh * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  return [d && `${d}d`, (d || hh) && `${hh}h`, `${m}m`, `${s}s`].filter(Boolean).join(' ');
}
export function between(a, b) {
  if (!a) return null;
  return (b ? new Date(b) : new Date()).getTime() - new Date(a).getTime();
}
export function ago(iso) {
  if (!iso) return '—';
  const ms = Date.now() - new Date(iso).getTime();
  return ms < 0 ? `in ${duration(-ms)}` : `${duration(ms)} ago`;
}

// "2026-12-01T14:05" (a datetime-local input, in local time) to ISO UTC.
export function localInputToIso(v) {
  if (!v) return null;
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function toast(message, { bad = false, link } = {}) {
  const box = document.getElementById('toasts');
  const t = h('div', { class: `toast${bad ? ' bad' : ''}`, role: bad ? 'alert' : 'status' }, message, link ? [' ', link] : null);
  box.append(t);
  setTimeout(() => t.remove(), bad ? 9000 : 5000);
}

// A modal dialog holding `form`; resolves when it closes.
export function openDialog(title, body) {
  const dlg = h('dialog', { 'aria-label': title }, h('h2', {}, title), body);
  document.body.append(dlg);
  dlg.addEventListener('close', () => dlg.remove());
  dlg.showModal();
  return dlg;
}

export function errorBox(err) {
  return h('div', { class: 'error-box', role: 'alert' }, err && err.message ? err.message : String(err));
}

export function jsonBlock(value) {
  return h('pre', { class: 'json' }, JSON.stringify(value, null, 2));
}

// Sets `el`'s content, keeping focus where it can.
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

// ---- run-time forecasts (SPEC §7) ----

const FLAG_TITLES = {
  slow: 'slower than usual: running past max(2 × p90, p90 + 1 min) of its history',
  stuck: 'stuck: no log line, checkpoint or progress for its stuck_after',
};
// A try's flags (slow, stuck) as badges, in words.
export function flagBadges(flags) {
  return (Array.isArray(flags) ? flags : []).map((f) => {
    const name = String(f);
    return h('span', { class: `flag${FLAG_TITLES[name] ? ` flag-${name}` : ''}`, dataset: { flag: name },
      title: FLAG_TITLES[name] || name }, name);
  });
}

// A progress line ({fraction, text, at}) as a bar with its percentage and
// text; null without one.
export function progressBar(p, { id } = {}) {
  if (!p || typeof p.fraction !== 'number' || !Number.isFinite(p.fraction)) return null;
  const pct = Math.round(Math.min(1, Math.max(0, p.fraction)) * 1000) / 10;
  const text = typeof p.text === 'string' ? p.text : '';
  const words = `${pct}%${text ? ` ${text}` : ''}`;
  return h('span', { class: 'pbar', id, role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': '100',
    'aria-valuenow': String(pct), 'aria-valuetext': words, title: p.at ? `${words} (${localTime(p.at)})` : words },
  h('span', { class: 'pbar-track', 'aria-hidden': 'true' }, h('span', { class: 'pbar-fill', style: `width:${pct}%` })),
  h('span', { class: 'pbar-text' }, h('span', { class: 'pbar-pct' }, `${pct}%`), text ? [' ', h('span', { class: 'pbar-words' }, text)] : null));
}

// A running run's forecast: "At risk" (expected to end after its SLA
// deadline) or "on time"; null when it has none (finished, or a task
// without history).
export function riskBadge(run, { id } = {}) {
  if (!run || FINISHED_RUN.has(run.state) || !run.expected_end) return null;
  if (run.at_risk) {
    const late = between(run.sla_deadline, run.expected_end);
    return h('span', { class: 'risk at-risk', id, dataset: { risk: 'at_risk' },
      title: `Expected to end ${utcTime(run.expected_end)}, after its SLA deadline ${utcTime(run.sla_deadline)}` },
    '⚠ At risk', late > 0 ? h('span', { class: 'risk-late' }, `· ${duration(late)} late`) : null);
  }
  if (!run.sla_deadline) return null;
  return h('span', { class: 'risk on-time', id, dataset: { risk: 'on_time' },
    title: `Expected to end ${utcTime(run.expected_end)}, before its SLA deadline ${utcTime(run.sla_deadline)}` }, '✓ on time');
}
