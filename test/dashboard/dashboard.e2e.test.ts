import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDashboard } from '../../scripts/build-dashboard.js';
import { SqliteTaskStore } from '../../src/store/sqlite/sqlite-task-store.js';
import { eventually } from '../fixtures/eventually.js';
import { renderText } from '../fixtures/render-text.js';

const chromiumPath = '/usr/bin/chromium';
const chromiumMissing = existsSync(chromiumPath)
  ? undefined
  : `${chromiumPath} is missing (apt-get install chromium): the dashboard end-to-end test is SKIPPED`;
if (chromiumMissing) console.warn(`[inferq tests] ${chromiumMissing}`);

const root = path.resolve(import.meta.dirname, '../..');
const artifacts = path.join(root, '.test-artifacts', 'dashboard');
let child: ChildProcess | undefined;
let browser: Browser | undefined;
let dir: string;
let base: string;
let adminKey: string;
let output = '';

/** `inferq serve` from source (real models, real worker threads) with the freshly built dashboard. */
async function startServe(): Promise<void> {
  child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'test/fixtures/run-cli.ts',
      'serve',
      '--port',
      '0',
      '--data-dir',
      dir,
      '--log-level',
      'warn',
    ],
    {
      cwd: root,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  child.stdout!.on('data', (chunk) => {
    output += String(chunk);
  });
  child.stderr!.on('data', (chunk) => {
    output += String(chunk);
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start:\n${output}`)), 60_000);
    const check = () => {
      if (/Press Ctrl\+C/.test(output)) {
        clearTimeout(timer);
        resolve();
      } else setTimeout(check, 50);
    };
    child!.once('exit', (code) => reject(new Error(`serve exited ${code}:\n${output}`)));
    check();
  });
  base = /dashboard\s+(http:\/\/\S+?)\/?$/m.exec(output)![1]!;
  adminKey = /^\s+(iq_\S+)$/m.exec(output)![1]!;
}

beforeAll(async () => {
  if (chromiumMissing) return;
  dir = await mkdtemp(path.join(os.tmpdir(), 'inferq-dashboard-'));
  await mkdir(artifacts, { recursive: true });
  await buildDashboard();
  await startServe();
  browser = await chromium.launch({
    executablePath: chromiumPath,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  if (child && child.exitCode === null) {
    const exited = new Promise((resolve) => child!.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
  if (dir) await rm(dir, { recursive: true, force: true });
});

const shot = (page: Page, name: string) =>
  page.screenshot({ path: path.join(artifacts, `${name}.png`), fullPage: true });

/** Submits `text` to the echo model through the API and waits until it succeeded. */
async function echoTask(text: string): Promise<string> {
  const auth = { authorization: `Bearer ${adminKey}` };
  const res = await fetch(`${base}/v1/tasks`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ target: 'echo', text }),
  });
  const id = ((await res.json()) as { tasks: Array<{ id: string }> }).tasks[0]!.id;
  await eventually(
    async () => {
      const task = (await (await fetch(`${base}/v1/tasks/${id}`, { headers: auth })).json()) as {
        state: string;
      };
      expect(task.state, `echo task ${id} did not succeed:\n${output}`).toBe('succeeded');
    },
    { timeoutMs: 20_000 },
  );
  return id;
}

/** A signed-in page (admin key) that logs console errors and every API request it makes. */
async function signedIn(url = base): Promise<{ page: Page; consoleErrors: string[]; requests: string[] }> {
  const page = await browser!.newPage({ viewport: { width: 1360, height: 900 } });
  const consoleErrors: string[] = [];
  const requests: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(`${m.text()} ${m.location().url}`);
  });
  page.on('request', (r) => requests.push(r.url()));
  await page.goto(url);
  await page.fill('input[name=apiKey]', adminKey);
  await page.click('button[type=submit]');
  return { page, consoleErrors, requests };
}

/** The Swagger UI at /docs, authorised with the admin key, with one operation open in "Try it out". */
async function tryItOut(operation: string) {
  const page = await browser!.newPage({ viewport: { width: 1360, height: 1600 } });
  await page.goto(`${base}/docs`);
  await page.click('button.authorize');
  await page.fill('.modal-ux input', adminKey);
  await page.click('.modal-ux button.authorize');
  await page.click('.modal-ux button.close-modal');
  const op = page.locator(operation);
  await op.locator('.opblock-summary').click();
  await op.locator('button.try-out__btn').click();
  return { page, op };
}

describe.skipIf(chromiumMissing !== undefined)('dashboard in Chromium', () => {
  it('signs in, submits an image, watches it complete live, shows the detected boxes', async () => {
    const page = await browser!.newPage({ viewport: { width: 1360, height: 900 } });
    const consoleErrors: string[] = [];
    await page.goto(base);
    await page.fill('input[name=apiKey]', 'iq_wrong');
    await page.click('button[type=submit]');
    await page.waitForSelector('.error');
    expect(await page.textContent('.error')).toContain('INFERQ_AUTH_INVALID');
    // From here on (the wrong key's 401 was expected) the page must log no error at all.
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(`${m.text()} ${m.location().url}`);
    });
    await page.fill('input[name=apiKey]', adminKey);
    await page.click('button[type=submit]');
    await page.waitForSelector('[data-testid=count-succeeded]');
    await page.waitForSelector('.chart .u-title');
    await shot(page, '1-overview-empty');

    const image = path.join(dir, 'receipt.png');
    await writeFile(
      image,
      await renderText(
        [
          { text: 'INFERQ DASHBOARD', x: 40, y: 80, size: 40 },
          { text: 'Total 42.00 EUR', x: 40, y: 170, size: 32 },
          { text: 'thank you', x: 40, y: 250, size: 28 },
        ],
        { width: 640, height: 320 },
      ),
    );
    await page.click('a[href="#/tasks"]');
    await page.waitForSelector('select[name=models] option:has-text("ocr-det@4.0.0")', { state: 'attached' });
    await page.setInputFiles('input[name=files]', image);
    await page.selectOption('select[name=models]', 'ocr-det@4.0.0');
    await shot(page, '2-tasks-submit');
    await page.click('form.submit-form button[type=submit]');
    await page.waitForSelector('[data-testid=task-state]', { timeout: 20_000 }).catch(async (err) => {
      await shot(page, 'failure-after-submit');
      throw err;
    });
    expect(page.url()).toMatch(/#\/tasks\/[^?]+$/);
    const seen = new Set<string>();
    // The page follows the task's event stream: no reload happens between these states.
    await eventually(
      async () => {
        const state = (await page.textContent('[data-testid=task-state]').catch(() => null)) ?? '';
        if (state) seen.add(state);
        expect(['succeeded', 'failed']).toContain(state);
      },
      { timeoutMs: 60_000, intervalMs: 100 },
    ).catch(() => undefined); // what it saw is asserted next
    expect(seen.has('succeeded'), `states seen: ${[...seen].join(', ')}\n${output}`).toBe(true);
    await page.waitForSelector('svg.boxes polygon');
    const boxes = await page.locator('svg.boxes polygon').count();
    expect(boxes).toBeGreaterThanOrEqual(3);
    expect(await page.locator('.timeline li').count()).toBeGreaterThanOrEqual(3);
    // The uploaded file's name is kept with the task.
    expect(await page.textContent('dl.facts')).toContain('receipt.png · image/png');
    await shot(page, '3-task-boxes');

    await page.click('a[href="#/tasks"]');
    await page.waitForSelector('table.tasks tbody tr a');
    expect(await page.textContent('table.tasks tbody tr td.input-name')).toBe('receipt.png');
    await shot(page, '4-tasks-list');
    await page.click('a[href="#/models"]');
    await page.waitForSelector('text=ocr-det@4.0.0');
    // The execution provider serve's worker runs the detector on (model.yaml's first: cpu).
    expect(await page.textContent('tr:has(a:text-is("ocr-det@4.0.0")) td.runs-on')).toBe('cpu');
    // The detection just run shows in the per-model breakdown (queue wait, batch wait, compute).
    await page.waitForSelector('[data-testid=latency-breakdown] td:text-is("ocr-det@4.0.0")');
    await shot(page, '5-models');
    await page.click('a[href="#/workers"]');
    await page.waitForSelector('td.mono');
    await shot(page, '6-workers');
    await page.click('a[href="#/"]');
    await expect.poll(() => page.textContent('[data-testid=count-succeeded]'), { timeout: 20_000 }).toBe('1');
    // One task a worker ran, none from the result cache: the hit-rate card says 0.0%.
    expect(await page.textContent('[data-testid=cache-hit-rate]')).toBe('0.0%');
    await page.waitForTimeout(2_500);
    await shot(page, '7-overview');
    expect(consoleErrors, consoleErrors.join('\n')).toEqual([]);
    await page.close();
  }, 120_000);

  it('overview: charts start from the server history, then update live over SSE with no polling', async () => {
    await echoTask('history 1');
    await echoTask('history 2');
    const { page, consoleErrors, requests } = await signedIn();
    const overview = page.locator('[data-testid=overview]');
    await overview.waitFor();
    // Finished before the page opened: on the charts at once, read from the task store.
    expect(Number(await overview.getAttribute('data-history-finished'))).toBeGreaterThanOrEqual(2);
    expect(
      Number(await page.getAttribute('[data-testid=chart-throughput]', 'data-points')),
    ).toBeGreaterThanOrEqual(1);
    expect(
      Number(await page.getAttribute('[data-testid=chart-latency]', 'data-points')),
    ).toBeGreaterThanOrEqual(1);
    await shot(page, '8-overview-history');
    // Each plot, legend included, stays inside its card.
    for (const chart of await page.locator('.chart').all()) {
      const card = (await chart.boundingBox())!;
      const plot = (await chart.locator('.uplot').boundingBox())!;
      expect(plot.x + plot.width).toBeLessThanOrEqual(card.x + card.width);
    }

    const succeeded = Number(await page.textContent('[data-testid=count-succeeded]'));
    const events = Number(await overview.getAttribute('data-live-events'));
    await echoTask('live');
    await expect
      .poll(() => page.textContent('[data-testid=count-succeeded]'), { timeout: 20_000 })
      .toBe(String(succeeded + 1));
    expect(Number(await overview.getAttribute('data-live-events'))).toBeGreaterThan(events);
    const api = requests
      .filter((u) => u.includes('/v1/') || u.endsWith('/metrics'))
      .map((u) => new URL(u).pathname);
    expect(api.filter((p) => p === '/v1/stats/history')).toHaveLength(1);
    expect(api.filter((p) => p === '/v1/stats/events')).toHaveLength(1);
    expect(api.filter((p) => p === '/v1/stats' || p === '/v1/stats/overview' || p === '/metrics')).toEqual(
      [],
    );
    await shot(page, '9-overview-live');
    expect(consoleErrors, consoleErrors.join('\n')).toEqual([]);
    await page.close();
  }, 60_000);

  it('a task with a 5 MB result: the page shows its head and offers the whole as a download', async () => {
    // Written straight into the server's task store (WAL: another process may write) as a
    // cached result of the admin's tenant: no model makes 5 MB of output on demand.
    const store = SqliteTaskStore.open(path.join(dir, 'inferq.db'));
    const lines = Array.from({ length: 60_000 }, (_, i) => ({
      text: `line ${i} of a very long document`,
      confidence: 0.97,
      box: [
        [10, i],
        [600, i],
        [600, i + 18],
        [10, i + 18],
      ],
    }));
    const [task] = await store.createTasks([
      {
        requestId: 'big-result',
        owner: 'default',
        target: { kind: 'model', name: 'echo', version: '1.0.0' },
        input: { sha256: 'b'.repeat(64), size: 5, mediaType: 'text/plain' },
        cachedResult: { result: { text: 'big', lines } },
      },
    ]);
    await store.close();
    const size = JSON.stringify({ text: 'big', lines }).length;
    expect(size).toBeGreaterThan(5_000_000);

    const { page, consoleErrors } = await signedIn(`${base}/#/tasks/${task!.id}`);
    await page.waitForSelector('.result .warning');
    expect(await page.textContent('.result .warning')).toMatch(
      /^The result is \d+\.\d MB; the first 64\.0 KB of it/,
    );
    const shown = (await page.textContent('.result pre'))!.length;
    expect(shown).toBeLessThan(70_000);
    const download = page.locator('.result a.download');
    expect(await download.getAttribute('download')).toBe(`${task!.id}.result.json`);
    // The whole result, compact as the API returns it (not the indented text of the page).
    const mb = Number(/Download result \((\d+\.\d) MB\)/.exec((await download.textContent()) ?? '')?.[1]);
    expect(mb).toBeCloseTo(size / 1024 / 1024, 0);
    await shot(page, '10-task-5mb-result');
    expect(consoleErrors, consoleErrors.join('\n')).toEqual([]);
    await page.close();
  }, 60_000);

  it('API docs: "Try it out" on POST /v1/tasks uploads a file as multipart and creates a task', async () => {
    const { page, op } = await tryItOut('#operations-tasks-post_v1_tasks');
    await op.locator('.body-param-content-type select').selectOption('multipart/form-data');
    // The form as the docs fill it: target "ocr" (an image model), blank optional fields.
    const target = op.locator('[data-property-name="target"] input').first();
    expect(await target.inputValue()).toBe('ocr');
    await target.fill('echo');
    await op
      .locator('input[type=file]')
      .first()
      .setInputFiles({
        name: 'from-docs.txt',
        mimeType: 'text/plain',
        buffer: Buffer.from('sent from /docs'),
      });
    await op.locator('button.execute').click();
    const answer = op.locator('.live-responses-table tr.response .response-col_status').first();
    await expect.poll(() => answer.innerText(), { timeout: 10_000 }).toContain('202');
    await shot(page, 'docs-try-it-out');
    const body = JSON.parse(await op.locator('.live-responses-table .microlight').first().innerText()) as {
      tasks: Array<{ target: string; inputName: string }>;
    };
    expect(body.tasks).toEqual([
      expect.objectContaining({ target: 'echo@1.0.0', inputName: 'from-docs.txt' }),
    ]);
    await page.close();
  });

  it('API docs: the JSON body "Try it out" fills in is a working request (echo, "hello")', async () => {
    const { page, op } = await tryItOut('#operations-tasks-post_v1_tasks');
    expect(JSON.parse(await op.locator('textarea.body-param__text').inputValue())).toEqual({
      target: 'echo',
      text: 'hello',
    });
    await op.locator('button.execute').click();
    const answer = op.locator('.live-responses-table tr.response .response-col_status').first();
    await expect.poll(() => answer.innerText(), { timeout: 10_000 }).toContain('202');
    await page.close();
  });
});
