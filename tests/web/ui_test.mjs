// The web UI in a real browser against a real `baton standalone`: sign in,
// the DAG list, pause and unpause, trigger with params and watch the run go
// green in the grid and the graph, a running task's log growing, clearing a
// task with its downstream, a backfill's dry run and real run, an SLA miss,
// a foreach task's mapped instances paged and filtered, the audit log, the
// namespaces page (configure, edit, delete; the server's errors; names that
// filter the DAG list; what a viewer sees), run-time forecasts (a run at
// risk and one on time, a task's progress bar and stuck flag, the grid's
// mark, the duration charts asked for a page and a few at a time, the At
// risk view with a recovered run), a narrow window and the
// keyboard. Screenshots of each page
// go to the artifacts folder.
// Usage: node ui_test.mjs BATON_BINARY ARTIFACTS_DIR
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startBaton, launch, signIn, steps, shot, until, client } from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const [batonArg, artifacts = path.join(process.cwd(), 'web-artifacts')] = process.argv.slice(2);
const baton = batonArg && path.resolve(batonArg);
if (!baton) {
  console.error('usage: node ui_test.mjs BATON_BINARY [ARTIFACTS_DIR]');
  process.exit(2);
}

const server = await startBaton({ baton, dags: path.join(here, 'dags') });
const api = client(server);
// The duration histories of the forecast steps, made while the first steps
// run (ui_recover's takes 6 s).
const historyRuns = await Promise.all([
  api('POST', '/dags/ui_forecast/runs', { logical_date: '2026-12-01T00:00:00Z' }),
  api('POST', '/dags/ui_forecast/runs', { logical_date: '2026-12-02T00:00:00Z' }),
  api('POST', '/dags/ui_recover/runs', {}),
  api('POST', '/dags/ui_ontime/runs', {}),
]);
const runUrl = (r) => `/dags/${r.dag_id}/runs/${encodeURIComponent(r.run_id)}`;
const historyOf = async (dag) => {
  for (const r of historyRuns.filter((x) => x.dag_id === dag)) {
    await until(`${dag}'s history run`, async () => (await api('GET', runUrl(r))).state === 'success', 30000);
  }
};
let riskyRun = null; // ui_forecast's run at risk
const { browser, page, problems } = await launch();
page.setDefaultTimeout(20000);
// An alert(), confirm() or prompt() is a problem: the UI uses none, so one
// would be markup from the server run as script.
page.on('dialog', (d) => { problems.push(`a ${d.type()} dialog: ${d.message()}`); d.dismiss().catch(() => {}); });
let firstRun = null;
const HOSTILE = '<img src=x onerror=alert(1)>';

const cellStates = (run) => page.$$eval(`#grid .grid-cells a[data-run="${run}"]`, (as) => as.map((a) => a.dataset.state));
const nsRows = () => page.$$eval('#ns-table tbody tr', (trs) => trs.map((t) => t.dataset.ns));
const nsCell = (ns, cls) => page.textContent(`#ns-table tr[data-ns="${ns}"] td.${cls}`);
const dagRows = () => page.$$eval('#dag-table tr[data-dag]', (trs) => trs.map((t) => t.dataset.dag));
// The API's answer for a namespace, or its HTTP status when it refuses.
const nsStored = (name) => api('GET', `/namespaces/${name}`).catch((e) => Number(/: (\d{3}) /.exec(e.message)[1]));
const nodeStates = () => page.$$eval('#graph g.node', (gs) => Object.fromEntries(gs.map((g) => [g.dataset.task, g.dataset.state])));

const failed = await steps([
  ['sign in: a wrong token is refused, the right one lands on the DAG list', async () => {
    await page.goto(`${server.url}/`);
    await page.waitForSelector('#token');
    await shot(page, artifacts, '01-sign-in');
    await page.fill('#token', 'baton_not_a_token');
    await page.click('button[type=submit]');
    await page.waitForSelector('.field-error:has-text("Sign-in failed")');
    await signIn(page, server);
    assert.match(await page.textContent('#who'), /Signed in as\s*admin\s*\(admin\)/);
  }],

  ['the DAG list: schedule with timezone, next run in local time and UTC, search and filters', async () => {
    await page.waitForSelector('#dag-table tr[data-dag="ui_daily"]');
    const daily = page.locator('#dag-table tr[data-dag="ui_daily"]');
    const text = await daily.textContent();
    assert.match(text, /0 3 \* \* \*/);
    assert.match(text, /Europe\/Berlin/);
    assert.match(await daily.locator('.next-run').textContent(), /UTC/);
    assert.match(text, /finance/);
    const broken = await page.textContent('#dag-table tr.import-errors');
    assert.match(broken, /Import errors/);
    assert.match(broken, /ui_broken\.yaml:\d+:\d+: .*missing_task/);
    await shot(page, artifacts, '02-dag-list');
    await page.fill('#dag-search', 'demo');
    await until('one DAG shown', async () => (await page.$$('#dag-table tr[data-dag]')).length === 1);
    assert.ok(await page.$('#dag-table tr[data-dag="ui_demo"]'));
    await page.fill('#dag-search', '');
    await page.selectOption('#dag-namespace', 'finance');
    await until('the finance namespace only', async () => {
      const ids = await page.$$eval('#dag-table tr[data-dag]', (trs) => trs.map((t) => t.dataset.dag));
      return ids.length === 1 && ids[0] === 'ui_daily';
    });
    await page.selectOption('#dag-namespace', '');
    await page.selectOption('#dag-tag', 'demo');
    await until('the demo tag only', async () => (await page.$$('#dag-table tr[data-dag]')).length === 1);
    await page.selectOption('#dag-tag', '');
  }],

  ['pause and unpause a DAG from the list', async () => {
    const sw = page.locator('#dag-table button.switch[data-dag="ui_daily"]');
    assert.equal(await sw.getAttribute('aria-checked'), 'true');
    await sw.click();
    await until('paused in the UI', async () => (await sw.getAttribute('aria-checked')) === 'false');
    assert.equal((await api('GET', '/dags/ui_daily')).paused, true);
    await shot(page, artifacts, '03-dag-paused');
    await sw.click();
    await until('unpaused in the UI', async () => (await sw.getAttribute('aria-checked')) === 'true');
    assert.equal((await api('GET', '/dags/ui_daily')).paused, false);
  }],

  ['trigger a run with params (checked before sending); it goes green in the grid', async () => {
    // The SLA DAG runs meanwhile, so that its miss is there later.
    await api('POST', '/dags/ui_sla/runs', {});
    await page.click('#dag-table a.dag-link:has-text("ui_demo")');
    await page.waitForSelector('#trigger');
    await page.click('#trigger');
    await page.waitForSelector('#trigger-params');
    assert.deepEqual(JSON.parse(await page.inputValue('#trigger-params')), { who: 'world', times: 3 });
    await page.fill('#trigger-params', '{"nobody": 1}');
    await page.click('#trigger-submit');
    assert.match(await page.textContent('#trigger-error'), /"nobody" is not a param of ui_demo/);
    await page.fill('#trigger-params', '{"who": "Ada", "times": "three"}');
    await page.click('#trigger-submit');
    assert.match(await page.textContent('#trigger-error'), /"times" must be a number/);
    await page.fill('#trigger-params', '{"who": "Ada", "times": 2}');
    await page.fill('#trigger-note', 'from the browser test');
    await page.click('#trigger-submit');
    await page.waitForSelector('dialog', { state: 'detached' });
    const runs = (await api('GET', '/dags/ui_demo/runs')).items;
    assert.equal(runs.length, 1);
    firstRun = runs[0].run_id;
    assert.deepEqual(runs[0].params, { who: 'Ada', times: 2 });
    assert.equal(runs[0].note, 'from the browser test');
    await until('four green cells in the grid', async () => {
      const s = await cellStates(firstRun);
      return s.length === 4 && s.every((x) => x === 'success');
    }, 30000);
    assert.match(await page.textContent('#selected-run'), /success/);
    await shot(page, artifacts, '04-dag-grid');
  }],

  ['the graph shows the run\'s states', async () => {
    await page.click('#tab-graph');
    await page.waitForSelector('#graph g.node');
    const s = await nodeStates();
    assert.deepEqual(Object.keys(s).sort(), ['hello', 'report', 'stream', 'tidy']);
    assert.ok(Object.values(s).every((x) => x === 'success'), JSON.stringify(s));
    await shot(page, artifacts, '05-dag-graph');
    await page.click('#tab-versions');
    await page.waitForSelector('#versions tbody tr');
    await shot(page, artifacts, '06-dag-versions');
  }],

  ['a running task\'s log grows on the run page', async () => {
    const run = await api('POST', '/dags/ui_demo/runs', { params: { who: 'Grace', times: 6 } });
    await page.goto(`${server.url}/#/dags/ui_demo/runs/${encodeURIComponent(run.run_id)}?task=stream`);
    await until('the stream task running', async () => (await page.getAttribute('#task-state .badge', 'data-state')) === 'running', 20000);
    const first = await until('a first line', async () => {
      const t = await page.textContent('#log');
      return /line 1 for Grace/.test(t) && t;
    });
    assert.equal(await page.getAttribute('#log', 'data-complete'), 'false');
    const later = await until('more lines while it runs', async () => {
      const t = await page.textContent('#log');
      return t.length > first.length && /line 3 for Grace/.test(t) && t;
    }, 15000);
    assert.ok(later.length > first.length);
    assert.match(await page.textContent('#last-activity'), /ago/);
    await shot(page, artifacts, '07-run-log-streaming');
    await until('the log complete', async () => (await page.getAttribute('#log', 'data-complete')) === 'true', 20000);
    assert.match(await page.textContent('#log'), /line 6 for Grace/);
    await page.click('#tab-timeline');
    await page.waitForSelector('#gantt .gantt-bar');
    await shot(page, artifacts, '08-run-timeline');
  }],

  ['cancel a running run from its page', async () => {
    const run = await api('POST', '/dags/ui_demo/runs', { params: { who: 'Linus', times: 60 } });
    await page.goto(`${server.url}/#/dags/ui_demo/runs/${encodeURIComponent(run.run_id)}?task=stream`);
    await until('the stream task running', async () => (await page.getAttribute('#task-state .badge', 'data-state')) === 'running', 20000);
    await page.click('#cancel-run');
    await page.click('#confirm-cancel');
    await until('the run canceled on the page', async () => (await page.getAttribute('#run-state .badge', 'data-state')) === 'canceled', 20000);
    assert.equal((await api('GET', `/dags/ui_demo/runs/${encodeURIComponent(run.run_id)}`)).state, 'canceled');
    await until('the running task stopped', async () => {
      const s = await page.getAttribute('#task-state .badge', 'data-state');
      return s !== 'running' && s;
    }, 20000);
    assert.equal(await page.$('#cancel-run'), null, 'no cancel button on a finished run');
  }],

  ['clear a task with its downstream: they run again', async () => {
    await page.goto(`${server.url}/#/dags/ui_demo/runs/${encodeURIComponent(firstRun)}?task=stream`);
    await page.waitForSelector('#clear-task');
    await page.click('#clear-task');
    assert.equal(await page.isChecked('#clear-downstream'), true);
    await page.click('#confirm-clear');
    await page.waitForSelector('dialog', { state: 'detached' });
    await until('stream tried twice and green again', async () => {
      const rows = await page.$$('#tries tbody tr');
      return rows.length === 2 && (await page.getAttribute('#task-state .badge', 'data-state')) === 'success';
    }, 30000);
    const tis = (await api('GET', `/dags/ui_demo/runs/${encodeURIComponent(firstRun)}/tasks`)).items;
    const byId = Object.fromEntries(tis.map((t) => [t.task_id, t]));
    assert.equal(byId.hello.try_number, 1);
    for (const t of ['stream', 'report']) assert.equal(byId[t].try_number, 2, `${t} ran again`);
    assert.equal((await api('GET', `/dags/ui_demo/runs/${encodeURIComponent(firstRun)}`)).state, 'success');
    await until('every task green in the list', async () => {
      const s = await page.$$eval('#task-list a.vrow', (as) => as.map((a) => a.dataset.state));
      return s.length === 4 && s.every((x) => x === 'success');
    });
    await shot(page, artifacts, '09-run-cleared');
  }],

  ['a foreach task: one rolled-up row; its panel pages through the mapped instances and filters them', async () => {
    const run = await api('POST', '/dags/ui_fanout/runs', {});
    const runPage = `${server.url}/#/dags/ui_fanout/runs/${encodeURIComponent(run.run_id)}`;
    await until('the run over', async () => ['success', 'failed'].includes((await api('GET', `/dags/ui_fanout/runs/${encodeURIComponent(run.run_id)}`)).state), 60000);
    await page.goto(runPage);
    const row = page.locator('#task-list a.vrow[data-task="each"]');
    await until('one row for each, rolled up', async () => /120 mapped: 1 failed, 119 success/.test(await row.textContent()));
    assert.equal(await page.locator('#task-list a.vrow').count(), 3, 'one row per task, not per mapped instance');
    await row.click();
    await page.waitForSelector('#mapped tbody tr');
    assert.match(await page.textContent('#mapped-summary'), /120 mapped instances: 1 failed, 119 success/);
    assert.equal(await page.getAttribute('#task-state .badge', 'data-state'), 'failed');
    const maps = () => page.$$eval('#mapped tbody tr', (trs) => trs.map((t) => Number(t.dataset.map)));
    assert.deepEqual((await maps()).slice(0, 3), [0, 1, 2]);
    assert.equal((await maps()).length, 50);
    await shot(page, artifacts, '17-foreach-panel');
    await page.click('#mapped-next');
    await until('the second page', async () => (await maps())[0] === 50);
    await page.click('#mapped-next');
    await until('the last page', async () => (await maps()).length === 20 && (await maps())[19] === 119);
    assert.equal(await page.isDisabled('#mapped-next'), true);
    await page.click('#mapped-prev');
    await until('back on the second page', async () => (await maps())[0] === 50);
    // Filtered by state, the pages follow on without a gap (7 failed).
    await page.selectOption('#mapped-state', 'success');
    await until('the successful ones from 0', async () => (await maps())[0] === 0 && (await maps()).length === 50);
    assert.equal((await maps())[49], 50);
    await page.click('#mapped-next');
    await until('the next successful one is 51', async () => (await maps())[0] === 51);
    await page.selectOption('#mapped-state', 'failed');
    await until('only the failed one', async () => JSON.stringify(await maps()) === '[7]');
    await page.click('#mapped tbody tr a');
    await page.waitForSelector('#task-item');
    assert.match(await page.textContent('#task-title'), /each\[7\]/);
    assert.equal(await page.textContent('#task-item'), '7');
    await until('its own log', async () => /item 7 of the fan-out/.test(await page.textContent('#log')));
    await shot(page, artifacts, '18-foreach-instance');
    await page.click('#all-mapped');
    await page.waitForSelector('#mapped tbody tr');
  }],

  ['a backfill: the dry-run plan first, then the real one with its progress', async () => {
    await page.click('#nav a[data-nav="backfills"]');
    await page.waitForSelector('#bf-form');
    await page.selectOption('#bf-dag', 'ui_daily');
    await page.fill('#bf-from', '2026-11-01');
    await page.fill('#bf-to', '2026-11-05');
    await page.click('#bf-dry-run');
    await page.waitForSelector('#bf-plan-table tbody tr');
    const actions = await page.$$eval('#bf-plan-table tbody tr', (trs) => trs.map((t) => t.dataset.action));
    assert.deepEqual(actions, ['create', 'create', 'create', 'create', 'create']);
    assert.equal((await api('GET', '/backfills')).items.length, 0, 'a dry run changes nothing');
    await shot(page, artifacts, '10-backfill-plan');
    await page.click('#bf-start');
    await page.waitForSelector('#bf-table tbody tr');
    await until('the backfill done', async () => {
      const row = page.locator('#bf-table tbody tr').first();
      return (await row.getAttribute('data-state')) === 'success' && /5 \/ 5/.test(await row.textContent());
    }, 30000);
    const b = (await api('GET', '/backfills')).items[0];
    assert.equal(b.total, 5);
    assert.equal(b.done, 5);
    await shot(page, artifacts, '11-backfill-done');
  }],

  ['an SLA miss is listed', async () => {
    await page.click('#nav a[data-nav="sla"]');
    await until('the ui_sla miss', async () => {
      await page.click('#sla-apply');
      await page.waitForTimeout(300);
      const rows = await page.$$eval('#sla-table tbody tr', (trs) => trs.map((t) => t.textContent));
      return rows.some((r) => /ui_sla/.test(r) && /slow/.test(r) && /task max duration/.test(r));
    }, 20000);
    await shot(page, artifacts, '12-sla-misses');
  }],

  ['forecasts: a run expected past its SLA is "At risk"; a task\'s progress bar and a silent task\'s stuck flag', async () => {
    await historyOf('ui_forecast');
    riskyRun = (await api('POST', '/dags/ui_forecast/runs', { params: { secs: 30 } })).run_id;
    await page.goto(`${server.url}/#/dags/ui_forecast/runs/${encodeURIComponent(riskyRun)}?task=load`);
    await page.waitForSelector('#run-risk[data-risk="at_risk"]');
    assert.match(await page.textContent('#run-risk'), /^⚠ At risk\s*· [\d.]+ (ms|s) late$/);
    assert.equal(await page.getAttribute('#run-forecast', 'data-risk'), 'at_risk');
    assert.match(await page.textContent('#run-forecast'), /after the SLA deadline/);
    assert.match(await page.textContent('#run-deadline'), /UTC/);
    assert.equal((await api('GET', `/dags/ui_forecast/runs/${encodeURIComponent(riskyRun)}`)).at_risk, true);
    // load's progress line: a bar half full, its text as text.
    const bar = page.locator('#task-list a.vrow[data-task="load"] .pbar');
    await bar.waitFor();
    assert.equal(await bar.getAttribute('aria-valuenow'), '50');
    assert.equal(await bar.locator('.pbar-pct').textContent(), '50%');
    assert.equal(await bar.locator('.pbar-words').textContent(), 'halfway <img src=x onerror=alert(1)>');
    const ratio = await bar.evaluate((b) => b.querySelector('.pbar-fill').getBoundingClientRect().width / b.querySelector('.pbar-track').getBoundingClientRect().width);
    assert.ok(Math.abs(ratio - 0.5) < 0.02, `the bar is ${ratio} full`);
    await page.waitForSelector('#task-progress .pbar[aria-valuenow="50"]');
    assert.equal(await page.textContent('#task-progress .pbar-words'), 'halfway <img src=x onerror=alert(1)>');
    assert.match(await page.textContent('#last-activity'), /ago/, 'progress counts as activity');
    assert.equal(await page.locator('img').count(), 0, 'the progress text is text, not markup');
    // silent writes nothing: stuck after its 1 s, with no activity.
    await page.waitForSelector('#task-list a.vrow[data-task="silent"] .flag[data-flag="stuck"]');
    assert.equal(await page.textContent('#task-list a.vrow[data-task="silent"] .flag'), 'stuck');
    assert.equal(await page.locator('#task-list a.vrow[data-task="load"] .flag').count(), 0);
    assert.equal(await page.locator('#task-list a.vrow[data-task="silent"] .pbar').count(), 0);
    await page.click('#task-list a.vrow[data-task="silent"]');
    await until('silent\'s panel', async () => /silent/.test(await page.textContent('#task-title')));
    await page.waitForSelector('#task-flags .flag[data-flag="stuck"]');
    assert.equal(await page.textContent('#last-activity'), '—');
    assert.equal(await page.$('#task-progress'), null);
    await shot(page, artifacts, '24-run-at-risk');
  }],

  ['forecasts: a run expected within its SLA is "on time"', async () => {
    await historyOf('ui_ontime');
    const run = await api('POST', '/dags/ui_ontime/runs', { params: { secs: 20 } });
    await page.goto(`${server.url}/#${runUrl(run)}`);
    await page.waitForSelector('#run-risk[data-risk="on_time"]');
    assert.equal(await page.textContent('#run-risk'), '✓ on time');
    assert.match(await page.textContent('#run-forecast'), /before the SLA deadline/);
    await api('POST', `${runUrl(run)}/cancel`);
    await page.waitForSelector('#run-state .badge[data-state="canceled"]');
    assert.equal(await page.$('#run-risk'), null, 'a finished run has no forecast');
  }],

  ['forecasts: the grid marks the run at risk; the Durations tab charts each task\'s history', async () => {
    await page.goto(`${server.url}/#/dags/ui_forecast`);
    const col = page.locator(`#grid .grid-run[data-run="${riskyRun}"]`);
    await col.waitFor();
    assert.equal(await col.getAttribute('data-at-risk'), 'true');
    assert.match(await col.locator('a.st').getAttribute('title'), /AT RISK: expected to end .* UTC, SLA deadline .* UTC/);
    assert.equal(await page.locator('#grid .grid-run.at-risk').count(), 1, 'only the run at risk');
    assert.match(await page.textContent('#selected-run-risk'), /At risk/);
    await shot(page, artifacts, '25-grid-at-risk');
    await page.click('#tab-durations');
    await page.waitForSelector('#durations .dur-card[data-task="report"][data-state="ready"]');
    await page.waitForSelector('#durations .dur-card[data-task="tidy"][data-state="empty"]');
    assert.deepEqual(await page.$$eval('#durations .dur-card', (cs) => cs.map((c) => c.dataset.task)), ['load', 'silent', 'report', 'tidy']);
    for (const t of ['load', 'silent', 'report']) {
      const c = page.locator(`#durations .dur-card[data-task="${t}"]`);
      await until(`${t}'s chart`, async () => (await c.getAttribute('data-state')) === 'ready');
      assert.equal(await c.getAttribute('data-count'), '2', t);
      assert.equal(await c.locator('svg.dur-chart circle.pt').count(), 2, `${t}: a point per successful try`);
      assert.equal(await c.locator('svg.dur-chart line.p50').count(), 1);
      assert.equal(await c.locator('svg.dur-chart line.p90').count(), 1);
    }
    assert.match(await page.textContent('#durations .dur-card[data-task="load"] .dur-summary'), /^2 tries · p50 1\.\d s · p90 1\.\d s · p99 1\.\d s · last 1\.\d s$/);
    assert.match(await page.textContent('#durations .dur-card[data-task="tidy"]'), /No history yet/);
    await shot(page, artifacts, '26-durations');
  }],

  ['forecasts: the Durations tab of a DAG of many tasks asks for one page, a few at a time', async () => {
    let open = 0; let most = 0; let asked = 0;
    const isStats = (r) => /\/api\/v1\/dags\/ui_ontime\/tasks\/[^/]+\/stats$/.test(new URL(r.url()).pathname);
    const began = (r) => { if (isStats(r)) { asked++; open++; most = Math.max(most, open); } };
    const ended = (r) => { if (isStats(r)) open--; };
    page.on('request', began); page.on('requestfinished', ended); page.on('requestfailed', ended);
    try {
      await page.goto(`${server.url}/#/dags/ui_ontime?view=durations`);
      const loaded = async (n) => until(`${n} charts`, async () => (await page.$$eval('#durations .dur-card', (cs) =>
        cs.filter((c) => c.dataset.state !== 'loading').length)) === n);
      await loaded(24);
      assert.equal(await page.textContent('#dur-range'), '1–24 of 31 tasks');
      assert.equal(asked, 24, 'one request per task of the page');
      assert.ok(most <= 4, `${most} requests at once`);
      assert.equal(await page.getAttribute('#durations .dur-card[data-task="work"]', 'data-count'), '1');
      assert.equal(await page.locator('#durations .dur-card[data-task="work"] circle.pt').count(), 1);
      assert.equal(await page.getAttribute('#durations .dur-card[data-task="t01"]', 'data-state'), 'empty');
      await page.click('#dur-next');
      await loaded(7);
      assert.equal(await page.textContent('#dur-range'), '25–31 of 31 tasks');
      assert.equal(asked, 31);
      await page.click('#dur-prev');
      await loaded(24);
      await page.fill('#dur-filter', 't3');
      await until('only t30', async () => JSON.stringify(await page.$$eval('#durations .dur-card', (cs) => cs.map((c) => c.dataset.task))) === '["t30"]');
      assert.equal(asked, 31, 'a task is asked once while the tab is open');
      assert.ok(most <= 4, `${most} requests at once`);
    } finally {
      page.off('request', began); page.off('requestfinished', ended); page.off('requestfailed', ended);
    }
  }],

  ['forecasts: the At risk view lists the run at risk and one that recovered', async () => {
    await historyOf('ui_recover');
    const rec = await api('POST', '/dags/ui_recover/runs', { params: { a: 0.1, b: 0.1 } });
    await until('ui_recover\'s risk recovered', async () => (await api('GET', '/sla-risks?dag_id=ui_recover')).items.some((x) => x.run_id === rec.run_id && x.recovered_at), 20000);
    await page.click('#nav a[data-nav="sla"]');
    await page.click('#tab-risks');
    await page.waitForSelector(`#sla-risk-table tr[data-run="${riskyRun}"]`);
    const risky = page.locator(`#sla-risk-table tr[data-run="${riskyRun}"]`);
    assert.equal(await risky.getAttribute('data-recovered'), 'false');
    assert.match(await risky.textContent(), /ui_forecast.*run duration.*⚠ At risk/);
    const back = page.locator(`#sla-risk-table tr[data-run="${rec.run_id}"]`);
    await back.waitFor();
    assert.equal(await back.getAttribute('data-recovered'), 'true');
    assert.match(await back.locator('td.risk-state').textContent(), /✓ recovered/);
    await shot(page, artifacts, '27-sla-at-risk');
    await page.fill('#sla-dag', 'ui_ontime');
    await page.click('#sla-apply');
    await until('none for ui_ontime', async () => /No run has been at risk/.test(await page.textContent('#sla-risk-list')));
    await page.click('#tab-misses');
    await page.waitForSelector('#sla-list');
    await api('POST', `/dags/ui_forecast/runs/${encodeURIComponent(riskyRun)}/cancel`);
  }],

  ['the audit log shows who paused, triggered and cleared, and filters', async () => {
    await page.click('#nav a[data-nav="audit"]');
    await page.waitForSelector('#audit-table tbody tr');
    const actions = await page.$$eval('#audit-table tbody tr', (trs) => trs.map((t) => t.dataset.action));
    for (const a of ['dag.paused', 'dag.unpaused', 'run.triggered', 'task.cleared', 'backfill.created']) assert.ok(actions.includes(a), `${a} in ${actions}`);
    await page.fill('#audit-action', 'dag.paused');
    await page.click('#audit-apply');
    await until('only dag.paused', async () => {
      const a = await page.$$eval('#audit-table tbody tr', (trs) => trs.map((t) => t.dataset.action));
      return a.length === 1 && a[0] === 'dag.paused';
    });
    assert.match(await page.textContent('#audit-table tbody tr'), /admin/);
    await shot(page, artifacts, '13-audit');
  }],

  ['namespaces: a configured one and ones only DAGs name, with their live figures', async () => {
    await api('PUT', '/namespaces/marketing', { weight: 2, max_running_tasks: 5, folder: 'marketing/', description: 'The marketing team' });
    await page.click('#nav a[data-nav="namespaces"]');
    await page.waitForSelector('#ns-table tr[data-ns="sales"]');
    assert.deepEqual(await nsRows(), ['default', 'finance', 'marketing', 'sales']);
    const m = page.locator('#ns-table tr[data-ns="marketing"]');
    assert.equal(await m.getAttribute('data-configured'), 'true');
    assert.equal(await nsCell('marketing', 'ns-weight'), '2');
    assert.equal(await nsCell('marketing', 'ns-max'), '5');
    assert.equal(await nsCell('marketing', 'ns-folder'), 'marketing');
    assert.equal(await nsCell('marketing', 'ns-description'), 'The marketing team');
    // sales: only a DAG names it, so it has the defaults.
    assert.equal(await page.getAttribute('#ns-table tr[data-ns="sales"]', 'data-configured'), 'false');
    assert.match(await page.textContent('#ns-table tr[data-ns="sales"] td:first-child'), /not configured/);
    assert.equal(await nsCell('sales', 'ns-weight'), '1');
    assert.equal(await nsCell('sales', 'ns-max'), '—');
    assert.equal(await nsCell('sales', 'ns-folder'), '—');
    assert.equal(await page.$('#ns-table button.ns-delete[data-ns="sales"]'), null, 'nothing to delete for sales');
    for (const ns of ['default', 'sales']) {
      assert.match(await nsCell(ns, 'ns-running'), /^\d+$/);
      assert.match(await nsCell(ns, 'ns-queued'), /^\d+$/);
      assert.match(await nsCell(ns, 'ns-share'), /^\d+(\.\d)?%$/);
      assert.match(await nsCell(ns, 'ns-latency'), /^(—|\d.*)$/);
    }
    // The page follows the server without a reload.
    await api('PUT', '/namespaces/marketing', { weight: 3, max_running_tasks: 5, folder: 'marketing', description: 'The marketing team' });
    await until('the new weight on the page', async () => (await nsCell('marketing', 'ns-weight')) === '3');
    await shot(page, artifacts, '19-namespaces');
  }],

  ['namespaces: an admin edits a weight; a bad one shows the server\'s error and stores nothing', async () => {
    await page.click('#ns-table button.ns-edit[data-ns="marketing"]');
    await page.waitForSelector('#ns-edit-form');
    assert.equal(await page.inputValue('#ns-edit-weight'), '3');
    assert.equal(await page.inputValue('#ns-edit-max'), '5');
    assert.equal(await page.inputValue('#ns-edit-folder'), 'marketing');
    await page.fill('#ns-edit-weight', '5000');
    await page.click('#ns-save');
    await until('the server\'s error by the form', async () => /weight/.test(await page.textContent('#ns-edit-error')));
    assert.match(await page.textContent('#ns-edit-error'), /1000/);
    await shot(page, artifacts, '20-namespace-bad-weight');
    const kept = await nsStored('marketing');
    assert.equal(kept.weight, 3, 'a refused weight stores nothing');
    assert.equal(kept.max_running_tasks, 5);
    await page.fill('#ns-edit-weight', '2.5');
    await page.click('#ns-save');
    await page.waitForSelector('dialog', { state: 'detached' });
    const saved = await nsStored('marketing');
    assert.equal(saved.weight, 2.5);
    assert.equal(saved.max_running_tasks, 5, 'the other fields are kept');
    assert.equal(saved.folder, 'marketing');
    assert.equal(saved.description, 'The marketing team');
    await until('the weight on the page', async () => (await nsCell('marketing', 'ns-weight')) === '2.5');
    await page.reload();
    await page.waitForSelector('#ns-table tr[data-ns="marketing"]');
    assert.equal(await nsCell('marketing', 'ns-weight'), '2.5');
  }],

  ['namespaces: a new one from the form, its description shown as text; delete asks first', async () => {
    await page.fill('#ns-new-name', 'hostile');
    await page.fill('#ns-new-max', '0');
    await page.fill('#ns-new-description', HOSTILE);
    await page.click('#ns-create');
    await until('the server\'s error by the form', async () => /max_running_tasks/.test(await page.textContent('#ns-new-error')));
    assert.equal(await nsStored('hostile'), 404, 'a refused namespace is not stored');
    await page.fill('#ns-new-max', '');
    await page.click('#ns-create');
    await page.waitForSelector('#ns-table tr[data-ns="hostile"]');
    assert.equal(await page.textContent('#ns-new-error'), '');
    assert.equal(await page.inputValue('#ns-new-name'), '', 'the form is emptied');
    assert.equal((await nsStored('hostile')).description, HOSTILE);
    assert.equal(await nsCell('hostile', 'ns-description'), HOSTILE);
    assert.equal(await page.locator('#ns-table img').count(), 0, 'the description is text, not markup');
    await shot(page, artifacts, '21-namespace-created');
    // Configuring it again from the new form is refused: that is Edit's job.
    await page.fill('#ns-new-name', 'hostile');
    await page.click('#ns-create');
    assert.match(await page.textContent('#ns-new-error'), /configured already/);
    await page.fill('#ns-new-name', '');
    await page.click('#ns-table button.ns-delete[data-ns="hostile"]');
    await page.click('dialog button:has-text("Keep it")');
    await page.waitForSelector('dialog', { state: 'detached' });
    assert.equal((await nsStored('hostile')).configured, true, 'kept when the user says so');
    await page.click('#ns-table button.ns-delete[data-ns="hostile"]');
    await page.click('#confirm-ns-delete');
    await page.waitForSelector('#ns-table tr[data-ns="hostile"]', { state: 'detached' });
    assert.equal(await nsStored('hostile'), 404, 'deleted: no DAG names it, so it is gone');
    assert.deepEqual(await nsRows(), ['default', 'finance', 'marketing', 'sales']);
  }],

  ['namespaces: a name links to the DAG list filtered to it, and the address sets the filter', async () => {
    await page.click('#ns-table tr[data-ns="sales"] a.ns-link');
    await until('only the sales DAG', async () => JSON.stringify(await dagRows()) === '["ui_orders"]');
    assert.equal(new URL(page.url()).hash, '#/dags?namespace=sales');
    assert.equal(await page.inputValue('#dag-namespace'), 'sales');
    await page.selectOption('#dag-namespace', '');
    await until('every DAG again', async () => (await dagRows()).length > 1);
    assert.equal(new URL(page.url()).hash, '#/dags', 'the address follows the filter');
    await page.goto(`${server.url}/#/dags?namespace=finance`);
    await until('only the finance DAG', async () => JSON.stringify(await dagRows()) === '["ui_daily"]');
    // A namespace no DAG names: chosen, and nothing matches.
    await page.goto(`${server.url}/#/dags?namespace=marketing`);
    await until('no DAG of marketing', async () => /No DAG matches/.test(await page.textContent('#dag-table tbody')));
    assert.equal(await page.inputValue('#dag-namespace'), 'marketing');
  }],

  ['namespaces: a viewer and a scoped admin see them, with no edit controls', async () => {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    try {
      const p = await ctx.newPage();
      p.on('pageerror', (e) => problems.push(`page error (viewer): ${e.message}`));
      for (const [name, body] of [['ns-viewer', { role: 'viewer' }], ['ns-scoped-admin', { role: 'admin', namespaces: ['sales'] }]]) {
        const { token } = await api('POST', '/tokens', { name, ...body });
        await signIn(p, { url: server.url, token });
        await p.goto(`${server.url}/#/namespaces`);
        await p.waitForSelector('#ns-table');
        await p.waitForSelector('#ns-table tbody tr, .error-box');
        assert.equal(await p.$('#ns-new-form'), null, `${name}: no new-namespace form`);
        assert.equal(await p.$('#ns-table button'), null, `${name}: no edit or delete buttons`);
        if (name === 'ns-viewer') {
          assert.ok(await p.$('#ns-table tr[data-ns="marketing"]'), 'the viewer sees the namespaces');
          await shot(p, artifacts, '22-namespaces-viewer');
        }
        await p.click('#who button:has-text("Sign out")');
      }
    } finally {
      await ctx.close();
    }
  }],

  ['the keyboard reaches the DAG list and the pause toggle', async () => {
    await page.goto(`${server.url}/#/dags`);
    await page.waitForSelector('#dag-table tr[data-dag="ui_sla"]');
    // "Skip to content" comes first, and moves the focus to the page.
    assert.equal(await page.evaluate(() => document.querySelector('a[href], button, input, select, textarea').className), 'skip');
    await page.focus('.skip');
    await page.keyboard.press('Enter');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'main');
    assert.ok(await page.$('#dag-table'), 'still on the DAG list');
    await page.focus('#dag-search');
    await page.keyboard.type('sla');
    await until('one row', async () => (await page.$$('#dag-table tr[data-dag]')).length === 1);
    let reached = null;
    for (let i = 0; i < 12 && !reached; i++) {
      await page.keyboard.press('Tab');
      reached = await page.evaluate(() => (document.activeElement.matches('button.switch') ? document.activeElement.dataset.dag : null));
    }
    assert.equal(reached, 'ui_sla');
    await page.keyboard.press('Space');
    await until('paused with the keyboard', async () => (await api('GET', '/dags/ui_sla')).paused === true);
    await until('the toggle says paused and keeps the focus', () => page.evaluate(() =>
      document.activeElement.matches('button.switch[data-dag="ui_sla"][aria-checked="false"]')));
    await page.keyboard.press('Space');
    await until('unpaused with the keyboard', async () => (await api('GET', '/dags/ui_sla')).paused === false);
  }],

  ['a narrow window: nothing spills over the side', async () => {
    await page.setViewportSize({ width: 420, height: 800 });
    for (const [hash, sel, name] of [['#/dags', '#dag-table', '14-narrow-dags'],
      [`#/dags/ui_demo/runs/${encodeURIComponent(firstRun)}?task=stream`, '#task-title', '15-narrow-run'],
      ['#/dags/ui_demo', '#grid', '16-narrow-grid'], ['#/namespaces', '#ns-table tbody tr', '23-narrow-namespaces'],
      ['#/dags/ui_forecast?view=durations', '#durations .dur-card', '28-narrow-durations'],
      ['#/sla?view=risks', '#sla-risk-table', '29-narrow-sla-risks']]) {
      await page.goto(`${server.url}/${hash}`);
      await page.waitForSelector(sel);
      await page.waitForTimeout(300);
      const over = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      assert.ok(over <= 1, `${hash}: the page is ${over}px wider than the window`);
      await shot(page, artifacts, name);
    }
    await page.setViewportSize({ width: 1280, height: 800 });
  }],

  ['no errors in the page', async () => {
    assert.deepEqual(problems, []);
  }],
], { artifacts, page });

await browser.close();
await server.stop();
if (failed) {
  console.log(`--- baton's output ---\n${server.logs().slice(-4000)}`);
}
console.log(failed ? '# FAILED' : '# all passed');
process.exit(failed ? 1 : 0);
