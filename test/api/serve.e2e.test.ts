import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');
let child: ChildProcess;
let dir: string;
let base: string;
let adminKey: string;
let output = '';

/** Starts `inferq serve` (from source, via tsx) on a free port, as a README reader would run it. */
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'inferq-e2e-'));
  child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      '--input-type=module',
      '-e',
      "const m = await import('./src/cli/main.ts'); await m.main(['node', 'inferq', ...process.argv.slice(1)]);",
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
    const timer = setTimeout(() => reject(new Error(`serve did not start:\n${output}`)), 40_000);
    const check = () => {
      if (/Press Ctrl\+C/.test(output)) {
        clearTimeout(timer);
        resolve();
      } else setTimeout(check, 50);
    };
    child.once('exit', (code) => reject(new Error(`serve exited ${code}:\n${output}`)));
    check();
  });
  base = /API\s+(http:\/\/\S+)\/v1/.exec(output)![1]!;
  adminKey = /^\s+(iq_\S+)$/m.exec(output)![1]!;
});

afterAll(async () => {
  if (child.exitCode === null) {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
  await rm(dir, { recursive: true, force: true });
});

it('prints the API, docs and dashboard URLs and a first admin key once; keeps the secret private', async () => {
  expect(output).toContain(`${base}/docs`);
  expect(output).toMatch(/dashboard\s+http/);
  expect((await stat(path.join(dir, 'jwt-secret'))).mode & 0o777).toBe(0o600);
});

it('serves health, docs and the README flow: token, submit, read, list', async () => {
  expect((await fetch(`${base}/healthz`)).status).toBe(200);
  expect((await fetch(`${base}/readyz`)).status).toBe(200);
  const spec = (await (await fetch(`${base}/openapi.json`)).json()) as { paths: Record<string, unknown> };
  expect(spec.paths['/v1/tasks']).toBeDefined();
  expect((await fetch(`${base}/v1/models`)).status).toBe(401);

  const token = await fetch(`${base}/v1/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ apiKey: adminKey }),
  });
  const { token: jwt } = (await token.json()) as { token: string };
  const auth = { authorization: `Bearer ${jwt}` };

  const models = (await (await fetch(`${base}/v1/models`, { headers: auth })).json()) as {
    items: { name: string }[];
  };
  expect(models.items.map((m) => m.name)).toContain('echo');

  const form = new FormData();
  form.append('target', 'echo');
  form.append('file', new Blob(['hello inferq']), 'hello.txt');
  const submitted = await fetch(`${base}/v1/tasks`, { method: 'POST', headers: auth, body: form });
  expect(submitted.status).toBe(202);
  const { tasks } = (await submitted.json()) as { tasks: { id: string }[] };
  const task = (await (await fetch(`${base}/v1/tasks/${tasks[0]!.id}`, { headers: auth })).json()) as {
    state: string;
  };
  expect(['queued', 'running', 'succeeded']).toContain(task.state);
  const input = await fetch(`${base}/v1/tasks/${tasks[0]!.id}/input`, { headers: auth });
  expect(await input.text()).toBe('hello inferq');
  const list = (await (await fetch(`${base}/v1/tasks`, { headers: auth })).json()) as { items: unknown[] };
  expect(list.items).toHaveLength(1);
});
