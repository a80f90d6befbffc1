import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsBlobStore } from '../../src/blobs/fs-blob-store.js';
import { openStoreWithQueue } from '../../src/cli/open-embedded.js';
import type { SqliteBroker } from '../../src/queue/sqlite/sqlite-broker.js';
import type { SqliteTaskStore } from '../../src/store/sqlite/sqlite-task-store.js';
import { eventually } from '../fixtures/eventually.js';

const root = path.resolve(import.meta.dirname, '../..');
let dir: string;
let store: SqliteTaskStore;
let broker: SqliteBroker;
let blobs: FsBlobStore;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'inferq-drain-'));
  // The data dir's default layout, as `inferq worker --data-dir` opens it: the queue in the task
  // database, each task written with its job.
  ({ store, broker } = openStoreWithQueue(path.join(dir, 'inferq.db')));
  blobs = await FsBlobStore.open(path.join(dir, 'blobs'));
});

afterAll(async () => {
  await blobs.close();
  await broker.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** `inferq worker --model echo` from source, as an operator would run it. */
function startWorker(): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  let output = '';
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      '--input-type=module',
      '-e',
      "const m = await import('./src/cli/main.ts'); await m.main(['node', 'inferq', ...process.argv.slice(1)]);",
      'worker',
      '--model',
      'echo',
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
  child.stdout!.on('data', (d) => {
    output += d;
  });
  child.stderr!.on('data', (d) => {
    output += d;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

async function submitSlow(count: number, delayMs: number): Promise<string[]> {
  const input = await blobs.put(Buffer.from(`drain ${Math.random()}`));
  const tasks = await store.createTasks(
    Array.from({ length: count }, () => ({
      requestId: 'drain',
      owner: 't',
      target: { kind: 'model' as const, name: 'echo', version: '1.0.0' },
      input: { sha256: input.sha256, size: input.size, mediaType: input.mediaType },
      params: { delayMs },
    })),
  );
  return tasks.map((t) => t.id);
}

const states = async (ids: string[]) => Promise.all(ids.map(async (id) => (await store.getTask(id))!.state));

describe('inferq worker shutdown', () => {
  it('drains on SIGTERM: finishes the batches in flight, leases nothing more, exits 0', async () => {
    const ids = await submitSlow(3, 1_500);
    const worker = startWorker();
    await eventually(async () => expect(await states(ids), 'a running batch').toContain('running'), {
      timeoutMs: 30_000,
    });
    worker.child.kill('SIGTERM');
    await eventually(() => expect(worker.output(), 'the drain to begin').toMatch(/draining/), {
      timeoutMs: 30_000,
    });
    // A lease long-poll already waiting when the drain began ends within idleWaitMs (500 ms);
    // after that the worker must lease nothing more.
    await new Promise((r) => setTimeout(r, 1_500));
    const later = await submitSlow(2, 0);
    expect(await worker.exited).toBe(0);
    expect(await states(ids)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    // Enqueued after the drain began: still queued for the next worker, not lost.
    expect(await states(later)).toEqual(['queued', 'queued']);
    expect((await broker.depth('echo@1.0.0')).waiting).toBe(2);
  }, 60_000);

  it('aborts on a second SIGTERM: exits at once, writes nothing, leaves the leases to expire', async () => {
    const before = await broker.depth('echo@1.0.0');
    const ids = await submitSlow(2, 20_000);
    const worker = startWorker();
    await eventually(
      async () => expect(await states(ids), 'a running batch').toEqual(['running', 'running']),
      {
        timeoutMs: 30_000,
      },
    );
    worker.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 200));
    worker.child.kill('SIGTERM');
    expect(await worker.exited, worker.output()).toBe(0);
    // Nothing was written for the aborted batch: its tasks still say running.
    expect(await states(ids)).toEqual(['running', 'running']);
    // Everything it had leased (this batch and the jobs left over by the drain test) stays leased
    // until the lease expires; the crash-recovery test covers the redelivery that follows.
    expect((await broker.depth('echo@1.0.0')).leased).toBe(before.leased + before.waiting + 2);
  }, 60_000);
});
