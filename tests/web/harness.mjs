// The browser tests' harness: starts a real `baton standalone` on a folder
// of DAGs with its own SQLite file, drives Debian's chromium (headless,
// through playwright-core) against it, keeps a screenshot of every page,
// and stops what it started. Used by ui_test.mjs (behaviour) and bench.mjs
// (time to a usable grid and graph).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

export function findChromium() {
  for (const p of [process.env.BATON_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome']) {
    if (p && fs.existsSync(p)) return p;
  }
  throw new Error('no chromium: install Debian\'s package (apt-get install chromium) or set BATON_CHROMIUM');
}

// A `baton standalone` of its own; resolves once it serves, with its URL
// and admin token.
export async function startBaton({ baton, dags, args = [], workers = 4, timeoutMs = 60000 }) {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'baton-web-'));
  const out = fs.openSync(path.join(work, 'out.log'), 'a');
  const err = fs.openSync(path.join(work, 'err.log'), 'a');
  const child = spawn(baton, ['standalone', '--dags', dags, '--db', `sqlite:${path.join(work, 'baton.db')}`,
    '--listen', '127.0.0.1:0', '--logs', path.join(work, 'logs'), '--workers', String(workers),
    '--heartbeat-interval', '1s', ...args], { cwd: work, stdio: ['ignore', out, err] });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = fs.readFileSync(path.join(work, 'out.log'), 'utf8');
    const url = /^UI and API: (http:\/\/[0-9.:]+)\//m.exec(text);
    const token = /^admin token: (\S+)$/m.exec(text);
    if (url && token) {
      // The API answers while the DAGs folder loads: ready once /health stops saying `loading`.
      for (;;) {
        const health = await fetch(`${url[1]}/api/v1/health`).then((r) => r.json()).catch(() => null);
        if (health && health.status !== 'loading') break;
        if (child.exitCode !== null || Date.now() > deadline) {
          child.kill('SIGKILL');
          throw new Error(`baton standalone did not load its DAGs:\n${fs.readFileSync(path.join(work, 'err.log'), 'utf8')}`);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      return {
        url: url[1], token: token[1], work, pid: child.pid,
        async stop() {
          child.kill('SIGTERM');
          const t = setTimeout(() => child.kill('SIGKILL'), 10000);
          await exited;
          clearTimeout(t);
        },
        logs: () => `${fs.readFileSync(path.join(work, 'out.log'), 'utf8')}\n${fs.readFileSync(path.join(work, 'err.log'), 'utf8')}`,
      };
    }
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`baton standalone did not start:\n${text}\n${fs.readFileSync(path.join(work, 'err.log'), 'utf8')}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

// The REST API with the admin token, for setting up and for checking what
// the UI did.
export function client(server) {
  return async function call(method, p, body) {
    const res = await fetch(`${server.url}/api/v1${p}`, {
      method, headers: { Authorization: `Bearer ${server.token}`, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let data = text;
    try { data = JSON.parse(text); } catch { /* text */ }
    if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${text}`);
    return data;
  };
}

export async function launch({ width = 1280, height = 800 } = {}) {
  const browser = await chromium.launch({ executablePath: findChromium(), headless: true,
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'] });
  const context = await browser.newContext({ viewport: { width, height } });
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error' && !/401|Failed to load resource/.test(m.text())) problems.push(`console: ${m.text()}`); });
  return { browser, context, page, problems };
}

export async function signIn(page, server) {
  await page.goto(`${server.url}/`);
  await page.waitForSelector('#token');
  await page.fill('#token', server.token);
  await page.click('button[type=submit]');
  await page.waitForSelector('#dag-table');
}

// Runs named steps in order and reports each; stops at the first failure
// (later steps build on earlier ones). Exit code 1 if any failed.
export async function steps(list, { artifacts, page }) {
  fs.mkdirSync(artifacts, { recursive: true });
  let failed = 0;
  for (const [name, fn] of list) {
    const t0 = Date.now();
    try {
      await fn();
      console.log(`ok - ${name} (${Date.now() - t0} ms)`);
    } catch (e) {
      failed++;
      console.log(`not ok - ${name}\n  ${String(e.stack || e).split('\n').join('\n  ')}`);
      if (page) await page.screenshot({ path: path.join(artifacts, `FAILED-${slug(name)}.png`), fullPage: true }).catch(() => {});
      break;
    }
  }
  return failed;
}

export const slug = (s) => s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');

export async function shot(page, artifacts, name) {
  await page.screenshot({ path: path.join(artifacts, `${name}.png`), fullPage: false });
}

export async function until(what, fn, timeoutMs = 30000, everyMs = 200) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) { last = e; }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
