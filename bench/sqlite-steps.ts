/**
 * bench/sqlite-steps: what each SQLite step of one task costs in the embedded deployment, with no
 * HTTP and no threads: the inline blob store, the task store and the queue called directly, in
 * groups of `--group` tasks as the API's group commits form them under load. Prints, per step,
 * the time per task and the WAL frames (pages written) per group. A profiling tool for the
 * storage layout (see docs/performance.md), not a comparison: there is no baseline to run beside.
 *
 *   npx tsx bench/sqlite-steps.ts [--groups 1000] [--group 16]
 *
 * Two passes over fresh files: the first times the steps (automatic checkpoints on, as in
 * `inferq serve`); the second counts frames, holding a read transaction open on each file so
 * that no checkpoint restarts the WAL and its growth is the pages written.
 */
import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { FsBlobStore } from '../src/blobs/fs-blob-store.js';
import { InlineBlobStore } from '../src/blobs/inline-blob-store.js';
import { newId } from '../src/core/ids.js';
import { taskJob } from '../src/core/task-job.js';
import { announceSettled } from '../src/queue/announce-tasks.js';
import { SqliteBroker } from '../src/queue/sqlite/sqlite-broker.js';
import { SqliteTaskStore } from '../src/store/sqlite/sqlite-task-store.js';

const { values: args } = parseArgs({
  options: {
    groups: { type: 'string', default: '1000' },
    group: { type: 'string', default: '16' },
  },
});
const groups = Number(args.groups);
const group = Number(args.group);
const warmUp = 50;
const queue = 'echo@1.0.0';

async function pass(countFrames: boolean): Promise<Map<string, { ms: number; frames: number }>> {
  const dir = mkdtempSync(path.join(tmpdir(), 'inferq-bench-sqlite-'));
  const files = [path.join(dir, 'inferq.db'), path.join(dir, 'queue.db')];
  const store = SqliteTaskStore.open(files[0]!);
  const broker = SqliteBroker.open(files[1]!);
  const blobs = InlineBlobStore.open(files[0]!, await FsBlobStore.open(path.join(dir, 'blobs')), {
    inlineMaxBytes: 64 * 1024,
  });
  const observers = countFrames ? files.map((file) => new Database(file, { readonly: true })) : [];
  for (const observer of observers) {
    observer.prepare('BEGIN').run();
    observer.prepare('SELECT count(*) FROM sqlite_master').get();
  }
  const walBytes = () => files.reduce((sum, file) => sum + statSync(`${file}-wal`).size, 0);
  const frameBytes = 4096 + 24;
  const steps = new Map<string, { ms: number; frames: number }>();
  const step = async <T>(name: string, counted: boolean, run: () => Promise<T>): Promise<T> => {
    const wal = countFrames ? walBytes() : 0;
    const started = performance.now();
    const result = await run();
    if (!counted) return result;
    const entry = steps.get(name) ?? { ms: 0, frames: 0 };
    entry.ms += performance.now() - started;
    if (countFrames) entry.frames += (walBytes() - wal) / frameBytes;
    steps.set(name, entry);
    return result;
  };
  for (let round = 0; round < warmUp + groups; round++) {
    const counted = round >= warmUp;
    const inputs = Array.from({ length: group }, (_, i) =>
      Buffer.from(`client ${i} request ${round} ${Math.random()}`),
    );
    const requestId = newId();
    const infos = await step('store inputs (inline blobs)', counted, () =>
      Promise.all(inputs.map((bytes) => blobs.put(bytes))),
    );
    const tasks = await step('create tasks', counted, () =>
      store.createTasks(
        infos.map((info) => ({
          requestId,
          owner: 'default',
          target: { kind: 'model' as const, name: 'echo', version: '1.0.0' },
          input: { sha256: info.sha256, size: info.size, mediaType: info.mediaType },
          params: {},
          maxAttempts: 3,
        })),
      ),
    );
    await step('enqueue', counted, () => broker.enqueueMany(queue, tasks.map(taskJob)));
    const jobs = await step('lease', counted, () => broker.lease(queue, { max: group * 4, leaseMs: 30_000 }));
    const claims = await step('claim tasks', counted, () =>
      store.claimTasks(
        jobs.map((job) => ({
          id: (job.payload as { taskId: string }).taskId,
          leaseToken: job.token,
          workerId: 'bench',
        })),
      ),
    );
    await step('read inputs', counted, () =>
      Promise.all(claims.map((claim) => blobs.readBytes(claim.task!.input.sha256))),
    );
    await step('settle tasks', counted, () =>
      store.settleTasks(
        claims.map((claim, i) => ({
          id: claim.task!.id,
          outcome: 'succeeded' as const,
          leaseToken: jobs[i]!.token,
          result: { echo: randomUUID(), sha256: createHash('sha256').update(String(i)).digest('hex') },
        })),
      ),
    );
    await step('ack', counted, () => broker.ack(jobs));
    await step('announce', counted, () =>
      announceSettled(
        broker,
        tasks.map((task) => task.id),
      ),
    );
    await step('read results', counted, () =>
      Promise.all(tasks.map((task) => store.getTaskWithoutTimeline(task.id))),
    );
  }
  for (const observer of observers) observer.close();
  await Promise.all([store.close(), broker.close(), blobs.close()]);
  rmSync(dir, { recursive: true, force: true });
  return steps;
}

const timed = await pass(false);
const counted = await pass(true);
console.log(`bench/sqlite-steps: ${groups} groups of ${group} tasks (after ${warmUp} warm-up groups)\n`);
console.log(`${'step'.padEnd(30)} ${'µs/task'.padStart(9)} ${'frames/group'.padStart(13)}`);
let totalUs = 0;
let totalFrames = 0;
for (const [name, { ms }] of timed) {
  const us = (ms * 1000) / (groups * group);
  const frames = counted.get(name)!.frames / groups;
  totalUs += us;
  totalFrames += frames;
  console.log(`${name.padEnd(30)} ${us.toFixed(1).padStart(9)} ${frames.toFixed(1).padStart(13)}`);
}
console.log(`${'total'.padEnd(30)} ${totalUs.toFixed(1).padStart(9)} ${totalFrames.toFixed(1).padStart(13)}`);
