/**
 * bench/sqlite-steps: what each SQLite step of one task costs in the embedded deployment, with no
 * HTTP and no threads: the inline blob store, the task store and the queue called directly, in
 * groups of `--group` tasks as the API's group commits form them under load. Prints, per step,
 * the time per task and the WAL frames (pages written) per group. A profiling tool for the
 * storage layout (see docs/performance.md), not a comparison: there is no baseline to run beside.
 *
 *   npx tsx bench/sqlite-steps.ts [--groups 1000] [--group 16] [--layout both|one-file|two-files]
 *
 * Two passes over fresh files: the first times the steps (automatic checkpoints on, as in
 * `inferq serve`); the second counts frames and commits, holding a read transaction open on
 * each file so that no checkpoint restarts the WAL and its growth is the pages written. A commit
 * is a WAL frame whose header gives the database size after the commit (zero on every other
 * frame), so the commits counted are every transaction that wrote, in every file.
 *
 * `--layout`: `one-file` is the embedded default (the queue in inferq.db on the store's
 * connection; createTasks writes the jobs, so there is no enqueue step), `two-files` the layout
 * before it (and an explicit `broker.url` file): the queue in queue.db. `both` (default) runs
 * them in turn and prints them side by side.
 */
import { createHash, randomUUID } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { FsBlobStore } from '../src/blobs/fs-blob-store.js';
import { InlineBlobStore } from '../src/blobs/inline-blob-store.js';
import { openStoreWithQueue } from '../src/cli/open-embedded.js';
import { newId } from '../src/core/ids.js';
import { taskJob } from '../src/core/task-job.js';
import { announceSettled } from '../src/queue/announce-tasks.js';
import { SqliteBroker } from '../src/queue/sqlite/sqlite-broker.js';
import { SqliteTaskStore } from '../src/store/sqlite/sqlite-task-store.js';

const { values: args } = parseArgs({
  options: {
    groups: { type: 'string', default: '1000' },
    group: { type: 'string', default: '16' },
    layout: { type: 'string', default: 'both' },
  },
});
const groups = Number(args.groups);
const group = Number(args.group);
const warmUp = 50;
const queue = 'echo@1.0.0';
type Layout = 'one-file' | 'two-files';
const layouts: Layout[] = args.layout === 'both' ? ['two-files', 'one-file'] : [args.layout as Layout];
if (!layouts.every((layout) => layout === 'one-file' || layout === 'two-files')) {
  throw new Error(`--layout takes both, one-file or two-files, got "${args.layout}"`);
}
const pageSize = 4096;
const frameBytes = pageSize + 24;

/** Commit frames in `file`'s WAL between byte offsets `from` and `to` (whole frames, after the 32-byte header). */
function commitsIn(file: string, from: number, to: number): number {
  const fd = openSync(file, 'r');
  try {
    const header = Buffer.alloc(8);
    let commits = 0;
    for (let offset = Math.max(from, 32); offset + frameBytes <= to; offset += frameBytes) {
      readSync(fd, header, 0, 8, offset);
      if (header.readUInt32BE(4) !== 0) commits++;
    }
    return commits;
  } finally {
    closeSync(fd);
  }
}

interface StepCost {
  ms: number;
  frames: number;
  commits: number;
}

async function pass(layout: Layout, countFrames: boolean): Promise<Map<string, StepCost>> {
  const dir = mkdtempSync(path.join(tmpdir(), 'inferq-bench-sqlite-'));
  const files =
    layout === 'one-file'
      ? [path.join(dir, 'inferq.db')]
      : [path.join(dir, 'inferq.db'), path.join(dir, 'queue.db')];
  const { store, broker } =
    layout === 'one-file'
      ? openStoreWithQueue(files[0]!)
      : { store: SqliteTaskStore.open(files[0]!), broker: SqliteBroker.open(files[1]!) };
  const blobs = InlineBlobStore.open(files[0]!, await FsBlobStore.open(path.join(dir, 'blobs')), {
    inlineMaxBytes: 64 * 1024,
  });
  const observers = countFrames ? files.map((file) => new Database(file, { readonly: true })) : [];
  for (const observer of observers) {
    observer.prepare('BEGIN').run();
    observer.prepare('SELECT count(*) FROM sqlite_master').get();
  }
  const walSizes = () => files.map((file) => statSync(`${file}-wal`).size);
  const steps = new Map<string, StepCost>();
  const step = async <T>(name: string, counted: boolean, run: () => Promise<T>): Promise<T> => {
    const before = countFrames ? walSizes() : [];
    const started = performance.now();
    const result = await run();
    if (!counted) return result;
    const entry = steps.get(name) ?? { ms: 0, frames: 0, commits: 0 };
    entry.ms += performance.now() - started;
    if (countFrames) {
      const after = walSizes();
      for (const [i, file] of files.entries()) {
        entry.frames += (after[i]! - before[i]!) / frameBytes;
        entry.commits += commitsIn(`${file}-wal`, before[i]!, after[i]!);
      }
    }
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
    // One file: createTasks wrote the jobs (a step of no cost, kept so the rows line up).
    await step('enqueue', counted, async () =>
      layout === 'one-file' ? [] : broker.enqueueMany(queue, tasks.map(taskJob)),
    );
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

const results = new Map<Layout, { timed: Map<string, StepCost>; counted: Map<string, StepCost> }>();
for (const layout of layouts) {
  results.set(layout, { timed: await pass(layout, false), counted: await pass(layout, true) });
}
console.log(
  `bench/sqlite-steps: ${groups} groups of ${group} tasks (after ${warmUp} warm-up groups); per layout: µs per task, WAL frames and commits per group\n`,
);
const columns = (name: string) => name.padStart(10) + ' '.repeat(24);
console.log(`${''.padEnd(30)} ${layouts.map(columns).join('')}`);
console.log(
  `${'step'.padEnd(30)} ${layouts.map(() => `${'µs/task'.padStart(9)} ${'frames'.padStart(8)} ${'commits'.padStart(8)}    `).join('')}`,
);
const totals = new Map(layouts.map((layout) => [layout, { us: 0, frames: 0, commits: 0 }]));
for (const name of results.get(layouts[0]!)!.timed.keys()) {
  const cells = layouts.map((layout) => {
    const { timed, counted } = results.get(layout)!;
    const us = (timed.get(name)!.ms * 1000) / (groups * group);
    const frames = counted.get(name)!.frames / groups;
    const commits = counted.get(name)!.commits / groups;
    const total = totals.get(layout)!;
    total.us += us;
    total.frames += frames;
    total.commits += commits;
    return `${us.toFixed(1).padStart(9)} ${frames.toFixed(1).padStart(8)} ${commits.toFixed(2).padStart(8)}    `;
  });
  console.log(`${name.padEnd(30)} ${cells.join('')}`);
}
const totalCells = layouts.map((layout) => {
  const { us, frames, commits } = totals.get(layout)!;
  return `${us.toFixed(1).padStart(9)} ${frames.toFixed(1).padStart(8)} ${commits.toFixed(2).padStart(8)}    `;
});
console.log(`${'total'.padEnd(30)} ${totalCells.join('')}`);
for (const layout of layouts) {
  const { commits } = totals.get(layout)!;
  console.log(
    `${layout}: ${(commits / group).toFixed(2)} commits per task (${commits.toFixed(2)} per group of ${group})`,
  );
}
if (layouts.length === 2) {
  const [a, b] = layouts.map((layout) => totals.get(layout)!);
  console.log(
    `one-file / two-files: time ${(b!.us / a!.us).toFixed(2)}×, frames ${(b!.frames / a!.frames).toFixed(2)}×, commits ${(b!.commits / a!.commits).toFixed(2)}×`,
  );
}
