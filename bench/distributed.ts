/**
 * bench/distributed: distributed mode, measured side by side in one run.
 *
 *   1. Brokers: no-op jobs through 1, 2 and 4 consumer processes — inferq's RedisBroker beside a
 *      raw BullMQ Worker (Queue.addBulk + a Worker that does nothing), inferq's RabbitMqBroker
 *      beside raw amqplib (confirmed publishes to a quorum queue + a prefetching consumer).
 *      Throughput: a backlog of --jobs enqueued as fast as the producer can, until all acked.
 *      Latency: enqueue → ack at a steady --rate jobs/s for --seconds. Ratios adapter/raw.
 *   2. End to end: echo (no-op model) tasks through 1, 2 and 4 `inferq worker` processes on
 *      PostgreSQL + Redis, PostgreSQL + RabbitMQ and PostgreSQL alone (the postgres broker's
 *      table in the task store's schema: one URL for both). Tasks are written to the store and
 *      enqueued as the API does (TaskWriter: createTasks, then enqueueMany), without HTTP.
 *      Throughput: a backlog of --tasks; latency (created → succeeded, from the store) at half
 *      the throughput just measured, for --seconds.
 *
 *   npx tsx bench/distributed.ts [--jobs 20000] [--rate 1000] [--tasks 3000] [--seconds 5]
 *       [--inflight 64] [--workers 1,2,4] [--only brokers|tasks] [--brokers redis,rabbitmq,postgres]
 *       [--rounds 1]   (rounds: broker runs alternate with the raw client; end-to-end runs
 *                       take turns between the deployments; medians of each)
 *
 * Redis: a throwaway redis-server (no persistence) started here. RabbitMQ and PostgreSQL: the
 * servers at TEST_AMQP_URL and TEST_POSTGRES_URL (scripts/test-services.sh), under a fresh
 * prefix and schema, removed at the end. Every process runs on this machine: the figures compare
 * within one run, never across machines.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import amqp from 'amqplib';
import { Queue } from 'bullmq';
import pg from 'pg';
import { FsBlobStore } from '../src/blobs/fs-blob-store.js';
import type { NewTask } from '../src/core/task.js';
import { taskJobsByQueue } from '../src/core/task-job.js';
import type { Broker } from '../src/queue/broker.js';
import { PostgresBroker } from '../src/queue/postgres/postgres-broker.js';
import { RabbitMqBroker } from '../src/queue/rabbitmq/rabbitmq-broker.js';
import { RedisBroker } from '../src/queue/redis/redis-broker.js';
import { PostgresTaskStore } from '../src/store/postgres/postgres-task-store.js';
import { findOnPath, startLocalRedis } from './lib/local-redis.js';
import { median, percentile } from './lib/stats.js';

const { values: args } = parseArgs({
  options: {
    jobs: { type: 'string', default: '20000' },
    rate: { type: 'string', default: '1000' },
    tasks: { type: 'string', default: '3000' },
    seconds: { type: 'string', default: '5' },
    inflight: { type: 'string', default: '64' },
    workers: { type: 'string', default: '1,2,4' },
    only: { type: 'string' },
    brokers: { type: 'string', default: 'redis,rabbitmq,postgres' },
    rounds: { type: 'string', default: '1' },
  },
});
const jobs = Number(args.jobs);
const rate = Number(args.rate);
const taskCount = Number(args.tasks);
const seconds = Number(args.seconds);
const inflight = Number(args.inflight);
const workerCounts = args.workers.split(',').map(Number);
const rounds = Number(args.rounds);
const brokerKinds = new Set(args.brokers.split(','));
const amqpUrl = process.env.TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const pgUrl = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres:postgres@127.0.0.1:5432/postgres';

const root = path.resolve(import.meta.dirname, '..');
const work = mkdtempSync(path.join(tmpdir(), 'inferq-bench-dist-'));
const children = new Set<ChildProcess>();
let stopRedis: (() => void) | undefined;
const cleanups: Array<() => Promise<void>> = [];
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
  stopRedis?.();
  rmSync(work, { recursive: true, force: true });
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));

const fmt = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '-');

/** A child process from source; resolves once its output matches `ready`. */
function spawnReady(argv: string[], ready: RegExp): Promise<{ child: ChildProcess; output: () => string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', ...argv], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let output = '';
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk;
      if (ready.test(output)) resolve({ child, output: () => output });
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${argv.join(' ')} exited ${code}:\n${output}`)));
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

// --- 1. brokers: adapter beside the raw client ---

type Mode = 'redis' | 'bullmq' | 'rabbitmq' | 'amqplib';

interface Producer {
  enqueue(payloads: ReadonlyArray<{ t: number; lat: boolean }>): Promise<void>;
  close(): Promise<void>;
}

async function producer(mode: Mode, url: string, prefix: string, queue: string): Promise<Producer> {
  if (mode === 'redis' || mode === 'rabbitmq') {
    const broker: Broker =
      mode === 'redis' ? await RedisBroker.open(url, { prefix }) : await RabbitMqBroker.open(url, { prefix });
    return {
      enqueue: async (payloads) => {
        await broker.enqueueMany(
          queue,
          payloads.map((payload) => ({ payload })),
        );
      },
      close: async () => {
        if (broker instanceof RabbitMqBroker) await broker.deleteNames(broker.declaredNames());
        await broker.close();
      },
    };
  }
  if (mode === 'bullmq') {
    const q = new Queue(queue, { connection: { url, maxRetriesPerRequest: null }, prefix });
    await q.waitUntilReady();
    return {
      enqueue: async (payloads) => {
        await q.addBulk(payloads.map((data) => ({ name: 'job', data, opts: { removeOnComplete: true } })));
      },
      close: () => q.close(),
    };
  }
  const connection = await amqp.connect(url);
  const channel = await connection.createConfirmChannel();
  const name = `${prefix}.${queue}`;
  await channel.assertQueue(name, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
  return {
    enqueue: async (payloads) => {
      for (const payload of payloads) {
        channel.sendToQueue(name, Buffer.from(JSON.stringify(payload)), {
          persistent: true,
          contentType: 'application/json',
        });
      }
      await channel.waitForConfirms();
    },
    close: async () => {
      await channel.deleteQueue(name).catch(() => {});
      await connection.close();
    },
  };
}

/** The last `acked <n>` a consumer printed. */
function lastAcked(output: string): number {
  const at = output.lastIndexOf('acked ');
  return at < 0 ? 0 : Number.parseInt(output.slice(at + 6), 10);
}

interface Figures {
  throughput: number;
  p50: number;
  p99: number;
}

async function brokerRun(mode: Mode, url: string, processes: number): Promise<Figures> {
  const prefix = `bench-${randomBytes(3).toString('hex')}`;
  const queue = 'noop';
  const send = await producer(mode, url, prefix, queue);
  const consumers = await Promise.all(
    Array.from({ length: processes }, () =>
      spawnReady(
        ['bench/lib/distributed-consumer.ts', mode, url, prefix, queue, String(inflight)],
        /^ready$/m,
      ),
    ),
  );
  const acked = () => consumers.reduce((sum, c) => sum + lastAcked(c.output()), 0);
  const waitAcked = async (count: number) => {
    while (acked() < count) await sleep(20);
  };

  // Throughput: a backlog, produced as fast as the producer goes, drained by the consumers.
  const started = performance.now();
  const chunk = 1_000;
  for (let i = 0; i < jobs; i += chunk) {
    await send.enqueue(
      Array.from({ length: Math.min(chunk, jobs - i) }, () => ({ t: Date.now(), lat: false })),
    );
  }
  await waitAcked(jobs);
  const throughput = (jobs * 1000) / (performance.now() - started);

  // Latency at a steady rate: a small batch every 10 ms.
  const perTick = Math.max(1, Math.round(rate / 100));
  const ticks = Math.round((seconds * 1000) / 10);
  const t0 = performance.now();
  for (let tick = 0; tick < ticks; tick++) {
    await send.enqueue(Array.from({ length: perTick }, () => ({ t: Date.now(), lat: true })));
    const due = t0 + (tick + 1) * 10;
    if (due > performance.now()) await sleep(due - performance.now());
  }
  await waitAcked(jobs + ticks * perTick);
  const latencies: number[] = [];
  await Promise.all(
    consumers.map(async ({ child, output }) => {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      await exited;
      latencies.push(...(JSON.parse(/latencies (.*)\n/.exec(output())?.[1] ?? '[]') as number[]));
    }),
  );
  await send.close();
  latencies.sort((a, b) => a - b);
  return { throughput, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

function brokerTable(title: string, adapter: string, raw: string, results: Map<number, [Figures, Figures]>) {
  console.log(`\n${title}`);
  console.log(
    `${'processes'.padEnd(10)}${`${adapter} jobs/s`.padStart(22)}${`${raw} jobs/s`.padStart(18)}${'ratio'.padStart(8)}` +
      `${'p50 / p99 ms (adapter)'.padStart(25)}${'p50 / p99 ms (raw)'.padStart(22)}`,
  );
  for (const [n, [a, r]] of results) {
    console.log(
      `${String(n).padEnd(10)}${fmt(a.throughput).padStart(22)}${fmt(r.throughput).padStart(18)}` +
        `${`${(a.throughput / r.throughput).toFixed(2)}×`.padStart(8)}` +
        `${`${fmt(a.p50)} / ${fmt(a.p99)}`.padStart(25)}${`${fmt(r.p50)} / ${fmt(r.p99)}`.padStart(22)}`,
    );
  }
}

/** Adapter and raw client alternate, per process count, for `rounds` rounds; medians reported. */
async function compareBrokers(
  adapter: Mode,
  raw: Mode,
  url: string,
): Promise<Map<number, [Figures, Figures]>> {
  const results = new Map<number, [Figures, Figures]>();
  for (const n of workerCounts) {
    const a: Figures[] = [];
    const r: Figures[] = [];
    for (let round = 0; round < rounds; round++) {
      r.push(await brokerRun(raw, url, n));
      a.push(await brokerRun(adapter, url, n));
    }
    const med = (list: Figures[]): Figures => ({
      throughput: median(list.map((f) => f.throughput)),
      p50: median(list.map((f) => f.p50)),
      p99: median(list.map((f) => f.p99)),
    });
    results.set(n, [med(a), med(r)]);
    process.stderr.write(`  ${adapter}/${raw} × ${n} done\n`);
  }
  return results;
}

// --- 2. end to end: echo tasks through inferq worker processes ---

async function endToEnd(
  kind: 'redis' | 'rabbitmq' | 'postgres',
  brokerServerUrl: string,
): Promise<Map<number, Figures>> {
  const schema = `bench_${randomBytes(4).toString('hex')}`;
  const storeUrl = new URL(pgUrl);
  storeUrl.searchParams.set('schema', schema);
  // PostgreSQL alone: the broker on the store's own URL (its tables beside the tasks).
  const brokerUrl = kind === 'postgres' ? storeUrl : new URL(brokerServerUrl);
  if (kind !== 'postgres') brokerUrl.searchParams.set('prefix', `bench-${randomBytes(3).toString('hex')}`);
  const prefix = brokerUrl.searchParams.get('prefix') ?? '';
  const blobsDir = path.join(work, `blobs-${kind}`);
  const store = await PostgresTaskStore.open(storeUrl.toString());
  const blobs = await FsBlobStore.open(blobsDir);
  const broker: Broker =
    kind === 'postgres'
      ? await PostgresBroker.open(storeUrl.toString())
      : kind === 'redis'
        ? await RedisBroker.open(brokerServerUrl, { prefix })
        : await RabbitMqBroker.open(brokerServerUrl, { prefix });
  const admin = new pg.Client({ connectionString: pgUrl });
  await admin.connect();
  cleanups.push(async () => {
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
    await admin.end().catch(() => {});
  });
  const blob = await blobs.put(Buffer.from('the same small input for every task'));
  const config = path.join(work, `inferq-${kind}.yaml`);
  writeFileSync(
    config,
    [
      `dataDir: ${path.join(work, `data-${kind}`)}`,
      `store: { url: "${storeUrl}" }`,
      `broker: { url: "${brokerUrl}" }`,
      `blobs: { url: "file:${blobsDir}" }`,
      'log: { level: warn }',
      '',
    ].join('\n'),
  );
  const workers: ChildProcess[] = [];
  const results = new Map<number, Figures>();

  /** Writes and enqueues tasks as the API's TaskWriter does. */
  const submit = async (requestId: string, count: number) => {
    const drafts: NewTask[] = Array.from({ length: count }, () => ({
      requestId,
      owner: 'bench',
      target: { kind: 'model', name: 'echo', version: '1.0.0' },
      input: { sha256: blob.sha256, size: blob.size, mediaType: blob.mediaType },
      params: {},
      maxAttempts: 3,
    }));
    const tasks = await store.createTasks(drafts);
    for (const [queue, jobs] of taskJobsByQueue(tasks)) await broker.enqueueMany(queue, jobs);
  };
  const stats = async (requestId: string) => {
    const { rows } = await admin.query<{ done: string; last: string; p50: number; p99: number }>(
      `SELECT count(*) FILTER (WHERE state = 'succeeded') AS done, max(finished_at) AS last,
         percentile_cont(0.5) WITHIN GROUP (ORDER BY finished_at - created_at) AS p50,
         percentile_cont(0.99) WITHIN GROUP (ORDER BY finished_at - created_at) AS p99
       FROM ${schema}.tasks WHERE request_id = $1`,
      [requestId],
    );
    return { done: Number(rows[0]!.done), last: Number(rows[0]!.last), p50: rows[0]!.p50, p99: rows[0]!.p99 };
  };
  const waitDone = async (requestId: string, count: number) => {
    for (;;) {
      const s = await stats(requestId);
      if (s.done >= count) return s;
      await sleep(50);
    }
  };

  try {
    for (const n of workerCounts) {
      while (workers.length < n) {
        const { child } = await spawnReady(
          ['test/fixtures/run-cli.ts', 'worker', '--model', 'echo', '--config', config],
          /inferq worker \S+ serving: echo/,
        );
        workers.push(child);
      }
      // Warm-up, untimed.
      await submit(`warm-${n}`, 200);
      await waitDone(`warm-${n}`, 200);

      const backlog = `backlog-${n}`;
      const started = Date.now();
      for (let i = 0; i < taskCount; i += 500) await submit(backlog, Math.min(500, taskCount - i));
      const done = await waitDone(backlog, taskCount);
      const throughput = (taskCount * 1000) / (done.last - started);

      const steady = `steady-${n}`;
      const perTick = Math.max(1, Math.round((throughput * 0.5) / 20));
      const ticks = Math.round((seconds * 1000) / 50);
      const t0 = performance.now();
      for (let tick = 0; tick < ticks; tick++) {
        await submit(steady, perTick);
        const due = t0 + (tick + 1) * 50;
        if (due > performance.now()) await sleep(due - performance.now());
      }
      const latency = await waitDone(steady, perTick * ticks);
      results.set(n, { throughput, p50: latency.p50, p99: latency.p99 });
      process.stderr.write(`  end to end on ${kind} × ${n} workers done\n`);
    }
  } finally {
    await Promise.all(workers.map(stopChild));
    if (broker instanceof RabbitMqBroker) await broker.deleteNames(broker.declaredNames()).catch(() => {});
    await broker.close();
    await store.close();
    await blobs.close();
  }
  return results;
}

function taskTable(title: string, results: Map<number, Figures>) {
  console.log(`\n${title}`);
  console.log(
    `${'workers'.padEnd(10)}${'tasks/s'.padStart(10)}${'vs 1 worker'.padStart(13)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}   (latency at half the throughput)`,
  );
  const one = results.get(workerCounts[0]!)?.throughput ?? Number.NaN;
  for (const [n, f] of results) {
    console.log(
      `${String(n).padEnd(10)}${fmt(f.throughput).padStart(10)}${`${(f.throughput / one).toFixed(2)}×`.padStart(13)}${fmt(f.p50).padStart(9)}${fmt(f.p99).padStart(9)}`,
    );
  }
}

async function main(): Promise<void> {
  console.log(
    `inferq distributed bench: ${fmt(jobs)} jobs backlog + ${fmt(rate)} jobs/s for ${seconds} s per broker run; ` +
      `${fmt(taskCount)} echo tasks per end-to-end run; ${inflight} jobs in flight per consumer; ` +
      `node ${process.version}, ${cpus().length} CPU(s)`,
  );
  const redisBinary = findOnPath('redis-server');
  if (redisBinary === undefined)
    throw new Error('redis-server is not on PATH (apt-get install -y redis-server)');
  const redis = await startLocalRedis(redisBinary, path.join(work, 'redis'));
  stopRedis = redis.stop;
  const redisUrl = `redis://127.0.0.1:${redis.port}`;
  console.log(
    `redis-server on ${redisUrl} (no persistence); RabbitMQ ${amqpUrl.replace(/\/\/[^@]*@/, '//')}`,
  );

  if (args.only !== 'tasks' && brokerKinds.has('redis')) {
    brokerTable(
      'Redis: RedisBroker (lease/ack) beside raw BullMQ (addBulk + Worker), target ≥ 0.80×',
      'RedisBroker',
      'BullMQ',
      await compareBrokers('redis', 'bullmq', redisUrl),
    );
  }
  if (args.only !== 'tasks' && brokerKinds.has('rabbitmq')) {
    brokerTable(
      'RabbitMQ: RabbitMqBroker beside raw amqplib (confirmed publish + prefetch consumer)',
      'RabbitMqBroker',
      'amqplib',
      await compareBrokers('rabbitmq', 'amqplib', amqpUrl),
    );
  }
  if (args.only !== 'brokers') {
    // The deployments take turns, round after round, so drift of a shared machine falls on all
    // alike; medians per worker count.
    const deployments = (
      [
        ['redis', 'PostgreSQL + Redis', redisUrl],
        ['rabbitmq', 'PostgreSQL + RabbitMQ', amqpUrl],
        ['postgres', 'PostgreSQL alone (postgres broker)', pgUrl],
      ] as const
    ).filter(([kind]) => brokerKinds.has(kind));
    const runs = new Map<string, Array<Map<number, Figures>>>(deployments.map(([kind]) => [kind, []]));
    for (let round = 0; round < rounds; round++) {
      for (const [kind, , url] of deployments) runs.get(kind)!.push(await endToEnd(kind, url));
    }
    for (const [kind, title] of deployments) {
      const medians = new Map<number, Figures>();
      for (const n of workerCounts) {
        const list = runs.get(kind)!.map((run) => run.get(n)!);
        medians.set(n, {
          throughput: median(list.map((f) => f.throughput)),
          p50: median(list.map((f) => f.p50)),
          p99: median(list.map((f) => f.p99)),
        });
      }
      taskTable(
        `End to end, ${title}: echo tasks${rounds > 1 ? ` (median of ${rounds} rounds)` : ''}`,
        medians,
      );
    }
  }
}

main()
  .then(async () => {
    for (const cleanup of cleanups) await cleanup();
    process.exit(0);
  })
  .catch(async (err: unknown) => {
    console.error(err);
    for (const cleanup of cleanups) await cleanup();
    process.exit(1);
  });
