import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteWorkerRegistry } from '../../src/store/sqlite/sqlite-worker-registry.js';
import { type AppFixture, createAppFixture, finishTask } from '../api/app-fixture.js';

const root = path.resolve(import.meta.dirname, '../..');
let f: AppFixture;
let url: string;
let worker: NodeJS.Timeout;

/** Runs `inferq …` from source as a subprocess; resolves with its exit code and output. */
function inferq(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        "const m = await import('./src/cli/main.ts'); await m.main(['node', 'inferq', ...process.argv.slice(1)]);",
        ...args,
      ],
      { cwd: root, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env } },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/**
 * A real server on a free port, and a stand-in worker that completes queued `echo` tasks and
 * fails the ones whose input says "fail" (the CLI only sees the HTTP API either way).
 */
beforeAll(async () => {
  f = await createAppFixture();
  await f.app.listen({ host: '127.0.0.1', port: 0 });
  url = `http://127.0.0.1:${(f.app.server.address() as AddressInfo).port}`;
  let busy = false;
  worker = setInterval(async () => {
    if (busy) return;
    busy = true;
    try {
      const { items } = await f.store.listTasks({ state: 'queued', target: 'echo' }, { limit: 100 });
      for (const task of items) {
        const text = await new Response(await f.blobs.read(task.input.sha256)).text();
        await finishTask(
          f,
          task.id,
          text.includes('fail')
            ? { error: { code: 'INFERQ_WORK_FAILED', message: 'asked to fail' } }
            : { result: { echoed: text } },
        );
      }
    } finally {
      busy = false;
    }
  }, 20);
});
afterAll(async () => {
  clearInterval(worker);
  await f.close();
});

describe('inferq client commands (subprocess)', () => {
  it('submit --wait writes each result as JSON next to the input or into --out', async () => {
    const inputs = path.join(f.dir, 'inputs');
    await mkdir(inputs);
    const files = ['a.txt', 'b.txt', 'c.txt'].map((n) => path.join(inputs, n));
    await Promise.all(files.map((file, i) => writeFile(file, `text ${i}`)));
    const out = path.join(f.dir, 'out');
    const run = await inferq(
      ['submit', ...files, '--model', 'echo', '--wait', '--out', out, '--chunk', '2', '--json'],
      {
        INFERQ_URL: url,
        INFERQ_API_KEY: f.keys.user,
      },
    );
    expect(run.code, run.stderr).toBe(0);
    const rows = JSON.parse(run.stdout) as { file: string; state: string; output: string }[];
    expect(rows.map((r) => [path.basename(r.file), r.state])).toEqual([
      ['a.txt', 'succeeded'],
      ['b.txt', 'succeeded'],
      ['c.txt', 'succeeded'],
    ]);
    const written = JSON.parse(await readFile(path.join(out, 'b.txt.echo.json'), 'utf8'));
    expect(written).toMatchObject({ target: 'echo@1.0.0', input: 'b.txt', result: { echoed: 'text 1' } });

    const failing = path.join(inputs, 'bad.txt');
    await writeFile(failing, 'please fail');
    const bad = await inferq(['submit', failing, '-m', 'echo', '--wait', '--url', url, '--key', f.keys.user]);
    expect(bad.code).toBe(5);
    expect(bad.stdout).toMatch(/failed\s+INFERQ_WORK_FAILED: asked to fail/);
    const nextTo = await inferq([
      'submit',
      files[0]!,
      '-m',
      'echo',
      '-w',
      '--url',
      url,
      '--key',
      f.keys.user,
    ]);
    expect(nextTo.code, nextTo.stderr).toBe(0);
    expect(JSON.parse(await readFile(`${files[0]}.echo.json`, 'utf8')).result).toEqual({ echoed: 'text 0' });

    // --model before the files takes one value: the file is not read as a second model. Several
    // models: the flag repeated, or a comma list.
    const env = { INFERQ_URL: url, INFERQ_API_KEY: f.keys.user };
    const first = await inferq(['submit', '--model', 'echo', files[1]!, '--json'], env);
    expect(first.code, first.stderr).toBe(0);
    expect((JSON.parse(first.stdout) as { file: string }[]).map((r) => path.basename(r.file))).toEqual([
      'b.txt',
    ]);
    for (const models of [
      ['--model', 'echo,words'],
      ['--model', 'echo', '-m', 'words'],
    ]) {
      const several = await inferq(['submit', ...models, files[2]!, '--json'], env);
      expect(several.code, several.stderr).toBe(0);
      expect((JSON.parse(several.stdout) as { target: string }[]).map((r) => r.target)).toEqual([
        'echo@1.0.0',
        'words@1',
      ]);
    }
  });

  it('submit says once on stderr when no worker serves the model, and still submits', async () => {
    const registry = SqliteWorkerRegistry.open(path.join(f.dir, 'no-workers.db'));
    const lone = await createAppFixture({ workers: registry });
    try {
      await lone.app.listen({ host: '127.0.0.1', port: 0 });
      const loneUrl = `http://127.0.0.1:${(lone.app.server.address() as AddressInfo).port}`;
      const files = ['x.txt', 'y.txt', 'z.txt'].map((n) => path.join(lone.dir, n));
      await Promise.all(files.map((file) => writeFile(file, `waiting ${file}`)));
      const run = await inferq(['submit', ...files, '--model', 'echo', '--chunk', '2', '--json'], {
        INFERQ_URL: loneUrl,
        INFERQ_API_KEY: lone.keys.user,
      });
      expect(run.code, run.stderr).toBe(0);
      expect(JSON.parse(run.stdout)).toHaveLength(3);
      // Two requests warned alike: said once.
      expect(run.stderr.match(/inferq: warning: no worker serves echo@1\.0\.0 now/g)).toHaveLength(1);
    } finally {
      await lone.close();
      await registry.close();
    }
  });

  it('models, stats, tasks ls|get|result|cancel as tables and JSON', async () => {
    const env = { INFERQ_URL: url, INFERQ_API_KEY: f.keys.user };
    const models = await inferq(['models'], env);
    expect(models.code, models.stderr).toBe(0);
    expect(models.stdout).toMatch(/^MODEL\s+KIND/);
    expect(models.stdout).toMatch(/echo@1\.0\.0\s+model\s+js\s+yes/);

    // The table names each task's input file (the files submitted above: a.txt, b.txt…).
    const table = await inferq(['tasks', 'ls', '--state', 'succeeded'], env);
    expect(table.stdout).toMatch(/^ID\s+INPUT\s+TARGET\s+STATE/);
    expect(table.stdout).toMatch(/\s[abc]\.txt\s+echo@1\.0\.0\s+succeeded/);
    const ls = await inferq(['tasks', 'ls', '--state', 'succeeded', '--json', '-n', '2'], env);
    const listed = JSON.parse(ls.stdout) as { id: string; state: string }[];
    expect(listed).toHaveLength(2);
    const id = listed[0]!.id;
    // The time range: a duration ago or an ISO date-time; and the input's hash.
    const recent = JSON.parse(
      (await inferq(['tasks', 'ls', '--since', '1h', '--json', '-n', '1000'], env)).stdout,
    );
    expect(recent.map((t: { id: string }) => t.id)).toContain(id);
    const older = await inferq(
      ['tasks', 'ls', '--until', new Date(Date.now() - 3_600_000).toISOString(), '--json'],
      env,
    );
    expect(older.code, older.stderr).toBe(0);
    expect(JSON.parse(older.stdout)).toEqual([]);
    const byInput = await inferq(
      [
        'tasks',
        'ls',
        '--input',
        (listed[0] as unknown as { input: { sha256: string } }).input.sha256,
        '--json',
      ],
      env,
    );
    expect(JSON.parse(byInput.stdout).map((t: { id: string }) => t.id)).toContain(id);
    const badTime = await inferq(['tasks', 'ls', '--since', 'yesterday'], env);
    expect(badTime.code).toBe(2);
    expect(badTime.stderr).toMatch(/a duration ago \(30m, 2h, 7d\) or an ISO 8601 date-time/);
    const result = await inferq(['tasks', 'result', id], env);
    expect(JSON.parse(result.stdout)).toHaveProperty('echoed');
    const get = await inferq(['tasks', 'get', id], env);
    expect(get.stdout).toMatch(/succeeded/);
    expect(get.stdout).toMatch(/created/);

    const queued = await f.store.createTasks([
      {
        requestId: 'r-cli',
        owner: 'acme',
        target: { kind: 'model', name: 'words', version: '1' },
        input: { sha256: 'a'.repeat(64), size: 1, mediaType: 'text/plain' },
        params: {},
        paramsHash: 'x',
        priority: 0,
        maxAttempts: 1,
      } as never,
    ]);
    const cancel = await inferq(['tasks', 'cancel', queued[0]!.id], env);
    expect(cancel.stdout).toMatch(/cancelled\s+no/);
    const stats = await inferq(['stats', '--window', '60'], env);
    expect(stats.code, stats.stderr).toBe(0);
    expect(stats.stdout).toMatch(/echo@1\.0\.0\s+0\s+0\s+[1-9]/);
  });

  it('tenants set|list|get with an admin key, as tables and JSON; a tenant key exits 3 (403)', async () => {
    const admin = { INFERQ_URL: url, INFERQ_API_KEY: f.keys.admin };
    const set = await inferq(['tenants', 'set', 'globex', '--weight', '2', '--max-queued', '5000'], admin);
    expect([set.code, set.stderr]).toEqual([0, '']);
    expect(set.stdout).toMatch(
      /^TENANT\s+WEIGHT\s+RATE\/MIN\s+MAX QUEUED\s+MAX STORED\s+CREATED\nglobex\s+2\s+default\s+5000\s+default\s/,
    );
    const list = await inferq(['tenants', 'list', '--json'], admin);
    expect(list.code).toBe(0);
    const items = JSON.parse(list.stdout).items as Array<{ id: string; weight: number }>;
    expect(items.find((t) => t.id === 'globex')?.weight).toBe(2);
    expect(items.find((t) => t.id === 'acme')?.weight).toBe(1);
    const reset = await inferq(
      ['tenants', 'set', 'globex', '--weight', 'default', '--max-queued', 'default', '--json'],
      admin,
    );
    expect(JSON.parse(reset.stdout)).toMatchObject({ id: 'globex', weight: 1, maxQueuedTasks: null });
    const got = await inferq(['tenants', 'get', 'globex', '--json'], admin);
    expect(JSON.parse(got.stdout)).toMatchObject({ id: 'globex', weight: 1 });

    const asTenant = await inferq(['tenants', 'list'], { INFERQ_URL: url, INFERQ_API_KEY: f.keys.user });
    expect([asTenant.code, asTenant.stderr]).toEqual([3, expect.stringContaining('INFERQ_FORBIDDEN')]);
    const missing = await inferq(['tenants', 'get', 'nobody'], admin);
    expect([missing.code, missing.stderr]).toEqual([4, expect.stringContaining('INFERQ_TENANT_NOT_FOUND')]);
    expect((await inferq(['tenants', 'set', 'globex', '--weight', '0'], admin)).code).toBe(2);
    // Eight CLI processes at a second or more each on a loaded host.
  }, 90_000);

  it('exit codes: 4 not found, 3 bad key, 2 usage, 7 unreachable; --help has examples', async () => {
    const env = { INFERQ_URL: url, INFERQ_API_KEY: f.keys.user };
    const missing = await inferq(['tasks', 'get', 'nope'], env);
    expect([missing.code, missing.stderr.trim()]).toEqual([4, 'inferq: INFERQ_TASK_NOT_FOUND: no task nope']);
    expect((await inferq(['models', '--key', 'iq_bad'], { INFERQ_URL: url })).code).toBe(3);
    expect((await inferq(['submit', '--url', url], env)).code).toBe(2);
    expect((await inferq(['models', '--url', 'http://127.0.0.1:9'], { INFERQ_API_KEY: 'k' })).code).toBe(7);
    const help = await inferq(['submit', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Examples:\n\s+inferq submit page.png --model ocr-det/);
    expect(help.stdout).toMatch(/Exit codes:/);
  });
});
