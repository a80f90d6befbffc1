import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteBroker } from '../../src/queue/sqlite/sqlite-broker.js';
import { SqliteTaskStore } from '../../src/store/sqlite/sqlite-task-store.js';
import { sweepOutbox } from '../../src/worker/housekeeping/outbox-sweeper.js';

let dir: string;
let store: SqliteTaskStore;
let broker: SqliteBroker;

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'inferq-outbox-'));
  store = SqliteTaskStore.open(path.join(dir, 'inferq.db'));
  broker = SqliteBroker.open(path.join(dir, 'queue.db'));
});

afterAll(async () => {
  await broker.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const newTask = (i: number) => ({
  requestId: 'outbox',
  owner: 't',
  target: { kind: 'model' as const, name: 'echo', version: '1.0.0' },
  input: { sha256: String(i).padStart(64, '0'), size: 1, mediaType: 'text/plain' },
  priority: i % 3,
});

describe('outbox sweeper', () => {
  it('enqueues queued tasks that have no live job, once, and leaves the young and the live alone', async () => {
    // Three tasks whose enqueue "failed", one that was enqueued normally.
    const lost = await store.createTasks([newTask(1), newTask(2), newTask(3)]);
    const [fine] = await store.createTasks([newTask(4)]);
    await broker.enqueue('echo@1.0.0', { id: fine!.id, payload: { taskId: fine!.id } });

    // Inside the grace period nothing is touched: the API may be between its two writes.
    expect(await sweepOutbox({ store, broker, graceMs: 60_000 })).toBe(0);
    expect((await broker.depth('echo@1.0.0')).waiting).toBe(1);

    const later = Date.now() + 120_000;
    expect(await sweepOutbox({ store, broker, graceMs: 60_000, now: later })).toBe(3);
    expect((await broker.depth('echo@1.0.0')).waiting).toBe(4);
    // A second sweep (or another host sweeping at once) makes no duplicates.
    expect(await sweepOutbox({ store, broker, graceMs: 60_000, now: later })).toBe(0);
    expect((await broker.depth('echo@1.0.0')).waiting).toBe(4);

    const jobs = await broker.lease('echo@1.0.0', { max: 10, leaseMs: 10_000 });
    expect(jobs.map((j) => (j.payload as { taskId: string }).taskId).sort()).toEqual(
      [...lost.map((t) => t.id), fine!.id].sort(),
    );
    // Priorities survive the trip through the outbox.
    const byId = new Map(jobs.map((j) => [j.id, j.priority]));
    for (const task of lost) expect(byId.get(task.id)).toBe(task.priority);
  });
});
