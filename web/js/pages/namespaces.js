// Namespaces (SPEC §13): every configured namespace, every one a DAG names,
// and `default`, with its weight, cap, folder and description and what the
// scheduler sees of it now (running, queued, share of the slots, scheduling
// latency). Each name links to the DAG list filtered to it. An unscoped
// admin gets the forms: configure a new namespace, edit one, delete one's
// configuration; the server checks every field, and its 400 is shown next
// to the form.
import { api, can, enc } from '../api.js';
import { h, replace, toast, errorBox, openDialog, duration } from '../ui.js';

const nsPath = (name) => `/namespaces/${enc(name)}`;
const none = (title) => h('span', { class: 'muted', title }, '—');

function sharePercent(share) {
  const p = (Number(share) || 0) * 100;
  return `${p === 0 || p >= 10 ? Math.round(p) : p.toFixed(1)}%`;
}

function latency(seconds) {
  if (!(seconds > 0)) return none('no try of it started in the last minute');
  return seconds < 0.001 ? '< 1 ms' : duration(seconds * 1000);
}

export async function namespacesPage(el) {
  let items = [];
  const body = h('tbody');
  const status = h('div');
  const count = h('span', { class: 'muted small', id: 'ns-count' });

  // The fields of a namespace's form, filled with `ns` (or the defaults),
  // and the PUT body they make: the body is the whole namespace (a field
  // left empty takes its default). The server checks the ranges.
  function fields(ns, prefix) {
    const weight = h('input', { id: `${prefix}-weight`, name: 'weight', type: 'number', step: 'any', placeholder: '1',
      style: 'width:7rem', value: ns ? String(ns.weight) : '' });
    const max = h('input', { id: `${prefix}-max`, name: 'max_running_tasks', type: 'number', step: '1', placeholder: 'no cap',
      style: 'width:8rem', value: ns && ns.max_running_tasks !== null ? String(ns.max_running_tasks) : '' });
    const folder = h('input', { id: `${prefix}-folder`, name: 'folder', placeholder: 'any file (e.g. team_a/dags)',
      value: ns && ns.folder !== null ? ns.folder : '' });
    const description = h('input', { id: `${prefix}-description`, name: 'description', maxlength: 4096, size: 40,
      value: ns ? ns.description : '' });
    const labels = [
      h('label', {}, 'Weight (0.01 to 1000; empty: 1)', weight),
      h('label', {}, 'Max running tasks (empty: no cap)', max),
      h('label', {}, 'Folder (under the DAGs folder; empty: any)', folder),
      h('label', {}, 'Description', description)];
    function read() {
      // A number field holding what is not a number reads as empty: say so
      // rather than send the default.
      if (weight.validity.badInput) return { error: 'Weight: not a number (a number from 0.01 to 1000)' };
      if (max.validity.badInput) return { error: 'Max running tasks: not a number (a whole number from 1 to 1000000, or empty)' };
      return { value: {
        weight: weight.value.trim() === '' ? null : Number(weight.value),
        max_running_tasks: max.value.trim() === '' ? null : Number(max.value),
        folder: folder.value.trim() === '' ? null : folder.value.trim(),
        description: description.value,
      } };
    }
    return { labels, read, first: weight };
  }

  // Sends the form's PUT; true when stored. The server's error goes in `err`.
  async function save(name, f, err, submit) {
    err.textContent = '';
    const b = f.read();
    if (b.error) { err.textContent = b.error; return false; }
    submit.disabled = true;
    try {
      const { status: code } = await api.putWithStatus(nsPath(name), b.value);
      toast(code === 201 ? `Namespace ${name} configured` : `Namespace ${name} saved`);
      await refresh(true);
      return true;
    } catch (e) {
      err.textContent = e.message;
      return false;
    } finally {
      submit.disabled = false;
    }
  }

  function edit(ns) {
    const f = fields(ns, 'ns-edit');
    const err = h('div', { class: 'field-error', role: 'alert', id: 'ns-edit-error' });
    const submit = h('button', { type: 'submit', class: 'primary', id: 'ns-save' }, 'Save');
    const form = h('form', { method: 'dialog', id: 'ns-edit-form', novalidate: true },
      h('p', { class: 'muted small' }, ns.configured ? 'Saving replaces the whole configuration.'
        : 'Not configured yet: it has the defaults. Saving configures it.'),
      f.labels, err,
      h('div', { class: 'row' }, submit, h('button', { type: 'button', onclick: () => dlg.close() }, 'Cancel')));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      if (await save(ns.name, f, err, submit)) dlg.close();
    });
    const dlg = openDialog(`Edit namespace ${ns.name}`, form);
    f.first.focus();
  }

  function remove(ns) {
    const form = h('form', { method: 'dialog' },
      h('p', {}, `Delete the configuration of namespace ${ns.name}? It gets the defaults again (weight 1, no cap, any folder); its DAGs keep naming it.`),
      h('div', { class: 'row' }, h('button', { type: 'submit', class: 'danger', id: 'confirm-ns-delete' }, 'Delete the configuration'),
        h('button', { type: 'button', onclick: () => dlg.close() }, 'Keep it')));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      try {
        await api.del(nsPath(ns.name));
        dlg.close();
        toast(`Namespace ${ns.name}: configuration deleted`);
        await refresh(true);
      } catch (e) { toast(e.message, { bad: true }); }
    });
    const dlg = openDialog(`Delete namespace ${ns.name}`, form);
  }

  function row(ns) {
    return h('tr', { dataset: { ns: ns.name, configured: String(ns.configured) } },
      h('td', {}, h('a', { href: `#/dags?namespace=${enc(ns.name)}`, class: 'ns-link', title: `The DAGs of ${ns.name}` },
        h('strong', {}, ns.name)),
        ns.configured ? null : h('div', { class: 'muted small' }, 'not configured: defaults')),
      h('td', { class: 'ns-weight' }, String(ns.weight)),
      h('td', { class: 'ns-max' }, ns.max_running_tasks === null ? none('no cap') : ns.max_running_tasks.toLocaleString()),
      h('td', { class: 'ns-folder' }, ns.folder === null ? none('any file in the DAGs folder') : h('span', { class: 'mono small' }, ns.folder)),
      h('td', { class: 'ns-description small', style: 'overflow-wrap:anywhere' }, ns.description),
      h('td', { class: 'ns-running' }, String(ns.running)),
      h('td', { class: 'ns-queued' }, String(ns.queued)),
      h('td', { class: 'ns-share', title: 'its part of the busy worker slots over the last minute' }, sharePercent(ns.share)),
      h('td', { class: 'ns-latency', title: 'from ready to running, the median of its tries started in the last minute' },
        latency(ns.latency_p50)),
      can.administer() ? h('td', {}, h('div', { class: 'row', style: 'gap:.4rem' },
        h('button', { type: 'button', class: 'ns-edit', 'aria-label': `Edit namespace ${ns.name}`,
          dataset: { ns: ns.name, action: 'edit' }, onclick: () => edit(ns) }, 'Edit'),
        ns.configured ? h('button', { type: 'button', class: 'danger ns-delete', 'aria-label': `Delete namespace ${ns.name}`,
          dataset: { ns: ns.name, action: 'delete' }, onclick: () => remove(ns) }, 'Delete') : null)) : null);
  }

  function draw() {
    count.textContent = `${items.length.toLocaleString()} namespace${items.length === 1 ? '' : 's'}`;
    replace(body, items.map(row));
  }

  // Redraws only when something changed, keeping the focus on the button
  // the user is on.
  async function refresh(force) {
    const fresh = await api.all('/namespaces');
    if (!force && JSON.stringify(fresh) === JSON.stringify(items)) return;
    items = fresh;
    const focused = document.activeElement && body.contains(document.activeElement) ? document.activeElement.dataset : null;
    const again = focused && focused.ns && focused.action
      ? `button[data-ns="${CSS.escape(focused.ns)}"][data-action="${focused.action}"]` : null;
    draw();
    replace(status);
    if (again) body.querySelector(again)?.focus();
  }

  // The form for a namespace that is not configured (one a DAG names may be
  // configured from its row too).
  function newForm() {
    const name = h('input', { id: 'ns-new-name', name: 'name', required: true, maxlength: 200, placeholder: 'team_a',
      autocomplete: 'off' });
    const f = fields(null, 'ns-new');
    const err = h('div', { class: 'field-error', role: 'alert', id: 'ns-new-error' });
    const submit = h('button', { type: 'submit', class: 'primary', id: 'ns-create' }, 'Create');
    const form = h('form', { class: 'panel', id: 'ns-new-form', novalidate: true },
      h('h2', { style: 'margin-top:0' }, 'New namespace'),
      h('div', { class: 'row', style: 'align-items:flex-end' }, h('label', {}, 'Name', name), f.labels, submit), err);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      err.textContent = '';
      const n = name.value.trim();
      if (!n) { err.textContent = 'Name: required (1 to 200 letters, digits, _, . or -)'; name.focus(); return; }
      const known = items.find((x) => x.name === n);
      if (known && known.configured) { err.textContent = `Namespace ${n} is configured already: use its Edit button`; return; }
      if (await save(n, f, err, submit)) form.reset();
    });
    return form;
  }

  replace(el,
    h('h1', {}, 'Namespaces', count),
    h('p', { class: 'muted small' }, 'The tenants sharing this deployment. A free worker slot goes to the namespace furthest below its ',
      'weighted share; running counts its tries queued or running, queued its tasks ready and waiting for a slot.'),
    can.administer() ? newForm() : null,
    can.administer() ? h('div', { style: 'height:.75rem' }) : null,
    status,
    h('div', { class: 'table-wrap' }, h('table', { id: 'ns-table' },
      h('thead', {}, h('tr', {}, ['Namespace', 'Weight', 'Max running tasks', 'Folder', 'Description', 'Running', 'Queued',
        'Share', 'Latency p50'].map((t) => h('th', {}, t)), can.administer() ? h('th', {}, 'Actions') : null)),
      body)));
  try { await refresh(true); } catch (e) { replace(status, errorBox(e)); }
  return { refresh: () => refresh(false) };
}
