// UI benchmark (issue 7, docs/benchmarks.md "UI"): the time from opening a
// DAG page to a usable grid, and to a usable graph, in headless chromium,
// for a DAG of 5,000 tasks and a DAG with 10,000 runs, and the run page of a
// foreach task mapped over 10,000 items (issue 8); the baseline is the
// same page of a one-task DAG with one run, measured in the same run.
// "Usable": the page's grid (or graph) is drawn with the states of the
// newest runs, and answers input. Prints one JSON object per figure; asserts
// no time.
// Usage: node bench.mjs BATON_BINARY [--tasks 5000] [--big-runs 10] [--runs 10000] [--repeat 5] [--artifacts DIR]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startBaton, launch, client, until, shot } from './harness.mjs';

const argv = process.argv.slice(2);
const opt = (name, dflt) => { const i = argv.indexOf(`--${name}`); return i >= 0 ? argv[i + 1] : dflt; };
const baton = argv[0] && path.resolve(argv[0]);
if (!baton || baton.startsWith('--')) { console.error('usage: node bench.mjs BATON_BINARY [--tasks N] [--runs N] [--repeat N] [--artifacts DIR]'); process.exit(2); }
const TASKS = Number(opt('tasks', 5000));
const RUNS = Number(opt('runs', 10000));
const REPEAT = Number(opt('repeat', 5));
const BIG_RUNS = Number(opt('big-runs', 10));
const MAPPED = Number(opt('mapped', 10000));
const MANY_DAGS = Number(opt('dags', 5000));
const artifacts = opt('artifacts', path.join(os.tmpdir(), 'baton-ui-bench'));
fs.mkdirSync(artifacts, { recursive: true });

// ---- the DAGs ----
const dags = fs.mkdtempSync(path.join(os.tmpdir(), 'baton-ui-bench-dags-'));
{
  // Layers of 100 tasks, each after two tasks of the layer before: a wide,
  // deep graph with crossings to untangle.
  const width = Math.min(100, TASKS);
  let y = 'dag: big_dag\ndescription: many tasks\nmax_active_tasks: 100000\ntasks:\n';
  for (let i = 0; i < TASKS; i++) {
    const layer = Math.floor(i / width);
    const deps = layer === 0 ? [] : [...new Set([(layer - 1) * width + (i % width), (layer - 1) * width + ((i * 7 + 3) % width)])];
    y += `  t${String(i).padStart(5, '0')}: {type: noop${deps.length ? `, depends_on: [${deps.map((d) => `t${String(d).padStart(5, '0')}`).join(', ')}]` : ''}}\n`;
  }
  fs.writeFileSync(path.join(dags, 'big_dag.yaml'), y);
  // Hourly runs that end just before now: catchup makes RUNS of them.
  const hour = 3600e3;
  const end = Math.floor(Date.now() / hour) * hour - 2 * hour;
  const start = new Date(end - (RUNS - 1) * hour).toISOString().replace(/\.\d+Z$/, 'Z');
  fs.writeFileSync(path.join(dags, 'many_runs.yaml'),
    `dag: many_runs\nschedule: every 1h\nstart_date: ${start}\nend_date: ${new Date(end).toISOString().replace(/\.\d+Z$/, 'Z')}\n` +
    'catchup: true\nmax_active_runs: 10000\ntasks:\n  extract: {type: noop}\n  load: {type: noop, depends_on: [extract]}\n  report: {type: noop, depends_on: [load]}\n');
  fs.writeFileSync(path.join(dags, 'tiny.yaml'), 'dag: tiny\ntasks:\n  only: {type: noop}\n');
  // MANY_DAGS small DAGs without a schedule, for the DAG list.
  fs.mkdirSync(path.join(dags, 'many'));
  for (let i = 0; i < MANY_DAGS; i++) {
    const id = `dag_${String(i).padStart(5, '0')}`;
    fs.writeFileSync(path.join(dags, 'many', `${id}.yaml`),
      `dag: ${id}\ndescription: one of many\ntags: [group_${i % 20}]\ntasks:\n  only: {type: noop}\n`);
  }
  // A foreach task over MAPPED items (noops: the loop runs them itself).
  fs.writeFileSync(path.join(dags, 'fanout.yaml'),
    `dag: fanout\nmax_active_tasks: 100000\ntasks:\n  each: {type: noop, foreach: '${JSON.stringify([...Array(MAPPED).keys()])}'}\n` +
    '  after: {type: noop, depends_on: [each]}\n');
}

const t0 = Date.now();
const server = await startBaton({ baton, dags, workers: 8, timeoutMs: 120000 });
const api = client(server);
try {
  const tiny = await api('POST', '/dags/tiny/runs', {});
  const fan = await api('POST', '/dags/fanout/runs', {});
  // Several runs of the big DAG, so that its grid is a page of columns.
  const bigRuns = [];
  for (let i = 0; i < BIG_RUNS; i++) bigRuns.push(await api('POST', '/dags/big_dag/runs', {}));
  await until('the runs of many_runs', async () => {
    const newest = (await api('GET', '/dags/many_runs/runs?limit=1')).items[0];
    const busy = (await api('GET', '/dags/many_runs/runs?state=running&limit=1')).items.length +
      (await api('GET', '/dags/many_runs/runs?state=queued&limit=1')).items.length;
    return newest && busy === 0 && !(await api('GET', '/dags/many_runs')).next_run;
  }, 600000, 1000);
  for (const big of bigRuns)
    await until('big_dag done', async () => (await api('GET', `/dags/big_dag/runs/${big.run_id}`)).state === 'success', 300000, 500);
  await until('tiny done', async () => (await api('GET', `/dags/tiny/runs/${tiny.run_id}`)).state === 'success', 60000);
  await until('fanout done', async () => (await api('GET', `/dags/fanout/runs/${fan.run_id}`)).state === 'success', 300000, 500);
  let runs = 0;
  let cursor = null;
  do {
    const page = await api('GET', `/dags/many_runs/runs?limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    runs += page.items.length;
    cursor = page.next_cursor;
  } while (cursor);
  const setup = (Date.now() - t0) / 1000;
  console.error(`set up in ${setup.toFixed(1)} s: big_dag has ${TASKS} tasks, many_runs has ${runs} runs`);

  const { browser, page, problems } = await launch();
  page.setDefaultTimeout(60000);
  await page.goto(`${server.url}/#/login`);
  await page.evaluate((t) => sessionStorage.setItem('baton.token', t), server.token);

  // One measurement: a fresh load of the page (nothing cached in memory),
  // until the view is drawn with its cells or nodes.
  async function measure(dag, view) {
    await page.goto('about:blank');
    const start = Date.now();
    await page.goto(`${server.url}/#/dags/${dag}${view === 'graph' ? '?view=graph' : ''}`);
    if (view === 'grid') {
      await page.waitForSelector('#grid[data-ready] .grid-cells a.st');
    } else {
      await page.waitForSelector('#graph[data-ready] g.node, #graph[data-ready] rect.mini');
    }
    // Usable: the page answers (a frame is drawn after the work).
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0))));
    return Date.now() - start;
  }
  const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
  const results = [];
  for (const [name, dag, view, size] of [
    ['baseline_grid', 'tiny', 'grid', { tasks: 1, runs: 1 }],
    ['grid_5000_tasks', 'big_dag', 'grid', { tasks: TASKS, runs: BIG_RUNS }],
    ['graph_5000_tasks', 'big_dag', 'graph', { tasks: TASKS }],
    ['grid_10000_runs', 'many_runs', 'grid', { tasks: 3, runs }],
    ['graph_10000_runs', 'many_runs', 'graph', { tasks: 3, runs }],
    ['baseline_graph', 'tiny', 'graph', { tasks: 1, runs: 1 }],
  ]) {
    const times = [];
    for (let i = 0; i < REPEAT; i++) times.push(await measure(dag, view));
    await shot(page, artifacts, `bench-${name}`);
    const nodes = view === 'graph' ? await page.$$eval('#graph g.node, #graph rect.mini', (g) => g.length) : undefined;
    const mode = view === 'graph' ? await page.getAttribute('#graph', 'data-mode') : undefined;
    const r = { workload: `ui_${name}`, ...size, median_ms: median(times), min_ms: Math.min(...times), max_ms: Math.max(...times),
      repeat: REPEAT, ...(nodes !== undefined ? { nodes_drawn: nodes, mode } : {}), target_ms: 2000 };
    results.push(r);
    console.log(JSON.stringify(r));
  }
  // The run page of a foreach task mapped over MAPPED items: the task list,
  // and the task's panel with its first page of mapped instances; then the
  // next page; against the run page of the one-task DAG.
  {
    const runPage = async (dag, run, task, ready) => {
      await page.goto('about:blank');
      const start = Date.now();
      await page.goto(`${server.url}/#/dags/${dag}/runs/${encodeURIComponent(run)}?task=${task}`);
      await page.waitForSelector(ready);
      await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0))));
      return Date.now() - start;
    };
    for (const [name, dag, run, task, ready, size] of [
      ['run_page_baseline', 'tiny', tiny.run_id, 'only', '#task-list a.vrow', { tasks: 1 }],
      [`run_page_foreach_${MAPPED}`, 'fanout', fan.run_id, 'each', '#mapped tbody tr', { mapped: MAPPED }],
    ]) {
      const times = [];
      for (let i = 0; i < REPEAT; i++) times.push(await runPage(dag, run, task, ready));
      await shot(page, artifacts, `bench-${name}`);
      const r = { workload: `ui_${name}`, ...size, median_ms: median(times), min_ms: Math.min(...times), max_ms: Math.max(...times),
        repeat: REPEAT, target_ms: 2000 };
      results.push(r);
      console.log(JSON.stringify(r));
    }
    const times = [];
    for (let i = 0; i < REPEAT; i++) {
      const before = await page.$eval('#mapped tbody tr', (t) => t.dataset.map);
      const s = Date.now();
      await page.click('#mapped-next');
      await page.waitForFunction((b) => document.querySelector('#mapped tbody tr')?.dataset.map !== b, before);
      times.push(Date.now() - s);
    }
    console.log(JSON.stringify({ workload: `ui_foreach_next_page_${MAPPED}`, mapped: MAPPED, median_ms: median(times), repeat: REPEAT }));
  }
  // The DAG list with MANY_DAGS (and the others): a page of 50, then a
  // search, then the next page.
  {
    const timed = async (fn) => { const s = Date.now(); await fn(); return Date.now() - s; };
    const list = [];
    for (let i = 0; i < REPEAT; i++) {
      await page.goto('about:blank');
      list.push(await timed(async () => {
        await page.goto(`${server.url}/#/dags`);
        await page.waitForSelector('#dag-table tr[data-dag]');
        await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0))));
      }));
    }
    const rows = await page.$$eval('#dag-table tr[data-dag]', (x) => x.length);
    const r = { workload: `ui_dag_list_${MANY_DAGS}_dags`, dags: MANY_DAGS + 5, rows_drawn: rows, median_ms: median(list),
      min_ms: Math.min(...list), max_ms: Math.max(...list), repeat: REPEAT, target_ms: 2000 };
    results.push(r);
    console.log(JSON.stringify(r));
    const search = [];
    for (let i = 0; i < REPEAT; i++) {
      search.push(await timed(async () => {
        await page.fill('#dag-search', `dag_0${i}099`);
        await page.waitForFunction((id) => document.querySelector('#dag-table tr[data-dag]')?.dataset.dag === id &&
          document.querySelectorAll('#dag-table tr[data-dag]').length < 20, `dag_0${i}099`);
      }));
    }
    console.log(JSON.stringify({ workload: `ui_dag_list_search_${MANY_DAGS}_dags`, median_ms: median(search), repeat: REPEAT }));
    await page.fill('#dag-search', '');
    await page.waitForFunction(() => !document.querySelector('#dags-next').disabled);
    const pages = [];
    for (let i = 0; i < REPEAT; i++) {
      const before = await page.$eval('#dag-table tr[data-dag]', (t) => t.dataset.dag);
      pages.push(await timed(async () => {
        await page.click('#dags-next');
        await page.waitForFunction((b) => document.querySelector('#dag-table tr[data-dag]')?.dataset.dag !== b, before);
      }));
    }
    console.log(JSON.stringify({ workload: `ui_dag_list_next_page_${MANY_DAGS}_dags`, median_ms: median(pages), repeat: REPEAT }));
  }
  // Paging back through a long history: the grid's "Older runs".
  {
    await page.goto(`${server.url}/#/dags/many_runs`);
    await page.waitForSelector('#grid[data-ready] .grid-cells a.st');
    const times = [];
    for (let i = 0; i < REPEAT; i++) {
      const before = await page.$eval('#grid .grid-run a', (a) => a.dataset.run);
      const s = Date.now();
      await page.click('#grid-older');
      await page.waitForFunction((b) => document.querySelector('#grid .grid-run a')?.dataset.run !== b, before);
      times.push(Date.now() - s);
    }
    console.log(JSON.stringify({ workload: 'ui_grid_older_page_10000_runs', runs, median_ms: median(times), repeat: REPEAT }));
  }
  if (problems.length) console.error(`page problems: ${problems.join('; ')}`);
  await browser.close();
} finally {
  await server.stop();
  fs.rmSync(dags, { recursive: true, force: true });
}
