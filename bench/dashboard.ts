/**
 * bench/dashboard: does the dashboard stay fast with 1,000,000 tasks and 5 MB results?
 *
 * Seeds two SQLite task stores side by side — a baseline (10,000 tasks) and the big one
 * (1,000,000), creation times spread over the last 6 days, ~94 % succeeded, each with the
 * timeline a worker writes, plus a few tasks with 5 MB results — in one transaction each
 * (bench/lib/seed-tasks.ts). Then starts `inferq serve --no-workers` on each and times, over
 * real HTTP, every API call the dashboard makes (task list first page and a deep cursor page,
 * filters, stats, overview, history, breakdown, the live stream's first event, a task with a
 * 5 MB result), printing the median and max of each and the big/baseline ratio. With Chromium
 * installed it also times the pages and checks that the 5 MB result is truncated in the page
 * with a download link. Last, the SQLite query plans of the stats queries on the big store.
 *
 *   npx tsx bench/dashboard.ts [--tasks 1000000] [--baseline 10000] [--big 3] [--big-mb 5]
 *                              [--rounds 9] [--no-browser]
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { sqliteDialect } from '../src/store/sql/sql-dialect.js';
import { breakdownSql } from '../src/store/stats/latency-breakdown.js';
import { activeSql, recentSql } from '../src/store/stats/task-activity.js';
import { batchSql, historySql } from '../src/store/stats/task-history.js';
import { encodeCursor } from '../src/store/task-rows.js';
import { type SeedReport, seedTasks } from './lib/seed-tasks.js';

const { values: args } = parseArgs({
  options: {
    tasks: { type: 'string', default: '1000000' },
    baseline: { type: 'string', default: '10000' },
    big: { type: 'string', default: '3' },
    'big-mb': { type: 'string', default: '5' },
    rounds: { type: 'string', default: '9' },
    'no-browser': { type: 'boolean', default: false },
  },
});
const rounds = Number(args.rounds);
const root = path.resolve(import.meta.dirname, '..');
const work = mkdtempSync(path.join(tmpdir(), 'inferq-bench-dashboard-'));
const children: ChildProcess[] = [];
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
});
const chromiumPath = '/usr/bin/chromium';

interface Server {
  label: string;
  count: number;
  url: string;
  key: string;
  seed: SeedReport;
  dir: string;
}

/** Seeds a store of `count` tasks and serves it (API and dashboard, no workers). */
async function serveSeeded(label: string, count: number): Promise<Server> {
  const dir = path.join(work, label);
  const now = Date.now();
  const seed = await seedTasks(path.join(dir, 'inferq.db'), {
    count,
    spanMs: 6 * 86_400_000,
    now,
    bigResults: Number(args.big),
    bigResultBytes: Number(args['big-mb']) * 1_000_000,
  });
  console.log(
    `seeded ${count.toLocaleString('en')} tasks in ${(seed.ms / 1_000).toFixed(1)} s (${Math.round((count / seed.ms) * 1_000).toLocaleString('en')} tasks/s, one transaction)`,
  );
  const config = path.join(dir, 'inferq.yaml');
  writeFileSync(config, 'api:\n  rateLimitPerMinute: 100000000\n');
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'test/fixtures/run-cli.ts',
      'serve',
      '--no-workers',
      '--config',
      config,
      '--data-dir',
      dir,
      '--port',
      '0',
      '--log-level',
      'warn',
    ],
    {
      cwd: root,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  children.push(child);
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk;
      if (/Press Ctrl\+C/.test(output)) resolve();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`serve exited ${code}:\n${output}`)));
  });
  const url = /API\s+(http:\/\/\S+)\/v1/.exec(output)![1]!;
  const key = /^\s+(iq_\S+)$/m.exec(output)![1]!;
  return { label, count, url, key, seed, dir };
}

interface Call {
  name: string;
  path: string;
  /** Time to the first `stats` event of a stream instead of a whole response. */
  stream?: boolean;
}

function calls(s: Server): Call[] {
  const now = Date.now();
  const deep = encodeCursor(s.seed.idAtDepth(0.9), { owner: 'default' });
  const day = now - 3 * 86_400_000;
  return [
    { name: 'tasks: first page', path: '/v1/tasks?limit=50' },
    { name: 'tasks: page at 90 % depth (cursor)', path: `/v1/tasks?limit=50&cursor=${deep}` },
    { name: 'tasks: state=failed', path: '/v1/tasks?limit=50&state=failed' },
    { name: 'tasks: state=queued&state=running', path: '/v1/tasks?limit=50&state=queued&state=running' },
    { name: 'tasks: target=ocr-det@4.0.0', path: '/v1/tasks?limit=50&target=ocr-det%404.0.0' },
    { name: 'tasks: target=ocr-rec + state=failed', path: '/v1/tasks?limit=50&target=ocr-rec&state=failed' },
    {
      name: 'tasks: created in one day, 3 days ago',
      path: `/v1/tasks?limit=50&createdFrom=${day}&createdTo=${day + 86_400_000}`,
    },
    { name: 'task: one, small result', path: `/v1/tasks/${s.seed.smallId}` },
    { name: `task: one, ${args['big-mb']} MB result`, path: `/v1/tasks/${s.seed.bigIds[0]}` },
    { name: `task result: ${args['big-mb']} MB`, path: `/v1/tasks/${s.seed.bigIds[0]}/result` },
    { name: 'stats/overview (5 min)', path: '/v1/stats/overview?windowSeconds=300' },
    { name: 'stats/overview all tenants (1 h)', path: '/v1/stats/overview?windowSeconds=3600&all=true' },
    { name: 'stats/history 1 h (dashboard default)', path: '/v1/stats/history?windowSeconds=3600&all=true' },
    { name: 'stats/history 6 h', path: '/v1/stats/history?windowSeconds=21600&all=true' },
    { name: 'stats/history 24 h', path: '/v1/stats/history?windowSeconds=86400&all=true' },
    { name: 'stats/models (15 min)', path: '/v1/stats/models?all=true' },
    { name: 'stats/models (24 h)', path: '/v1/stats/models?windowSeconds=86400&all=true' },
    { name: 'stats/events: first event', path: '/v1/stats/events?all=true', stream: true },
    { name: 'stats (all-time counts, CLI)', path: '/v1/stats?windowSeconds=300' },
    { name: 'models', path: '/v1/models' },
  ];
}

async function timeCall(s: Server, call: Call): Promise<{ ms: number; bytes: number }> {
  const started = performance.now();
  const controller = new AbortController();
  const response = await fetch(`${s.url.replace(/\/v1$/, '')}${call.path}`, {
    headers: { authorization: `Bearer ${s.key}` },
    signal: controller.signal,
  });
  if (!response.ok) throw new Error(`${call.path}: HTTP ${response.status} ${await response.text()}`);
  if (!call.stream) {
    const bytes = (await response.arrayBuffer()).byteLength;
    return { ms: performance.now() - started, bytes };
  }
  const reader = response.body!.getReader();
  let text = '';
  while (!text.includes('event: stats')) {
    const { value, done } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  const ms = performance.now() - started;
  controller.abort();
  return { ms, bytes: text.length };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmtMs = (ms: number) => (ms >= 100 ? `${ms.toFixed(0)} ms` : `${ms.toFixed(1)} ms`);
const fmtBytes = (n: number) =>
  n >= 1_000_000
    ? `${(n / 1_000_000).toFixed(1)} MB`
    : n >= 1_000
      ? `${(n / 1_000).toFixed(1)} kB`
      : `${n} B`;

async function measure(s: Server): Promise<Map<string, { median: number; max: number; bytes: number }>> {
  const results = new Map<string, { median: number; max: number; bytes: number }>();
  for (const call of calls(s)) {
    await timeCall(s, call); // warm-up: statement cache, page cache
    const times: number[] = [];
    let bytes = 0;
    for (let i = 0; i < rounds; i++) {
      const r = await timeCall(s, call);
      times.push(r.ms);
      bytes = r.bytes;
    }
    results.set(call.name, { median: median(times), max: Math.max(...times), bytes });
  }
  return results;
}

/** Times the dashboard's pages in Chromium and checks the 5 MB result is truncated. */
async function browse(s: Server): Promise<Record<string, string>> {
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
    ],
  });
  const out: Record<string, string> = {};
  try {
    const base = s.url.replace(/\/v1$/, '');
    const page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
    await page.goto(base);
    await page.fill('input[name=apiKey]', s.key);
    let t = performance.now();
    await page.click('button[type=submit]');
    await page.waitForSelector('[data-testid=overview] .chart .u-title');
    out['page: overview (sign-in → charts with history)'] = fmtMs(performance.now() - t);
    t = performance.now();
    await page.click('a[href="#/tasks"]');
    await page.waitForSelector('table.tasks tbody tr a');
    out['page: tasks list'] = fmtMs(performance.now() - t);
    t = performance.now();
    await page.click('a[href="#/models"]');
    await page.waitForSelector('[data-testid=latency-breakdown]');
    out['page: models with latency breakdown'] = fmtMs(performance.now() - t);
    t = performance.now();
    await page.goto(`${base}/#/tasks/${s.seed.bigIds[0]}`);
    await page.waitForSelector('.result .warning');
    out[`page: task with ${args['big-mb']} MB result`] = fmtMs(performance.now() - t);
    const shown = (await page.textContent('.result pre'))?.length ?? 0;
    const download = await page.locator('.result a.download').textContent();
    out[`  ${args['big-mb']} MB result in the page`] =
      `${fmtBytes(shown)} shown (truncated: ${shown < 70_000 ? 'yes' : 'NO'}), link "${download?.trim()}"`;
    await page.close();
  } finally {
    await browser.close();
  }
  return out;
}

/** EXPLAIN QUERY PLAN of the stats statements on the big store; flags a scan of `tasks`. */
function plans(file: string): void {
  const db = new Database(file, { readonly: true });
  const statements: Record<string, string> = {
    'history (owner)': historySql(sqliteDialect, true),
    'history batch sizes (owner)': batchSql(sqliteDialect, true),
    'breakdown (all)': breakdownSql(sqliteDialect, false),
    'overview backlog (owner)': activeSql(true),
    'overview window (owner)': recentSql(sqliteDialect, true),
  };
  const params = { from: 0, to: 1, bucketMs: 1, since: 0, owner: 'default' };
  console.log('\nSQLite query plans on the big store:');
  for (const [name, sql] of Object.entries(statements)) {
    const stmt = db.prepare(`EXPLAIN QUERY PLAN ${sql}`);
    const needed = Object.fromEntries(Object.entries(params).filter(([k]) => sql.includes(`@${k}`)));
    const detail = (stmt.all(needed) as Array<{ detail: string }>).map((r) => r.detail);
    const scan = detail.some((d) => /^SCAN (tasks|t)\b/.test(d));
    console.log(`  ${name.padEnd(30)} ${scan ? 'FULL SCAN  ' : ''}${detail.join(' / ')}`);
  }
  db.close();
}

const baseline = await serveSeeded('baseline', Number(args.baseline));
const big = await serveSeeded('big', Number(args.tasks));
const a = await measure(baseline);
const b = await measure(big);
const header = [
  'call',
  `${baseline.count.toLocaleString('en')} tasks`,
  `${big.count.toLocaleString('en')} tasks`,
  'ratio',
  'max (big)',
  'bytes',
];
const rows = [...b.keys()].map((name) => {
  const x = a.get(name)!;
  const y = b.get(name)!;
  return [
    name,
    fmtMs(x.median),
    fmtMs(y.median),
    `${(y.median / x.median).toFixed(1)}×`,
    fmtMs(y.max),
    fmtBytes(y.bytes),
  ];
});
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
console.log(
  `\nHTTP, median of ${rounds} sequential calls after a warm-up (inferq serve --no-workers, SQLite):`,
);
for (const row of [header, ...rows])
  console.log(row.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '));

if (args['no-browser'] || !existsSync(chromiumPath)) {
  console.log(
    `\nChromium pages: skipped (${args['no-browser'] ? '--no-browser' : `${chromiumPath} missing`})`,
  );
} else {
  const pa = await browse(baseline);
  const pb = await browse(big);
  console.log('\nChromium (headless), one load each:');
  for (const name of Object.keys(pb))
    console.log(`  ${name.padEnd(48)} ${pa[name]!.padStart(9)}  →  ${pb[name]}`);
}
plans(path.join(big.dir, 'inferq.db'));
process.exit(0);
