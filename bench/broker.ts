/**
 * Broker throughput, side by side in one run:
 *   1. enqueue and no-op lease+ack throughput: SqliteBroker vs raw BullMQ on a local Redis
 *   2. SqliteBroker claim rate with a shallow and a deep queue (does it degrade with depth?)
 *   3. peak RSS of this process
 *
 *   npx tsx bench/broker.ts [--jobs 50000] [--batch 100] [--chunk 1000] [--concurrency 100]
 *                           [--shallow 1000] [--deep 1000000] [--claims 20000] [--rounds 3]
 *                           [--no-redis]
 *
 * Redis: started here (temp dir, free port, no persistence) when `redis-server` is on PATH,
 * killed at exit. Figures are for comparing in one run on one machine, never for assertions.
 *
 * Shared machines are noisy, so both comparisons interleave what they compare: SQLite and
 * BullMQ alternate for `--rounds` rounds (the median round is reported), and the shallow and
 * deep queues alternate batch by batch (rates from the median batch time).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Queue, Worker } from 'bullmq';
import type { JobInput } from '../src/core/job.js';
import { SqliteBroker } from '../src/queue/sqlite/sqlite-broker.js';
import { findOnPath, startLocalRedis } from './lib/local-redis.js';
import { median } from './lib/stats.js';

const { values: args } = parseArgs({
  options: {
    jobs: { type: 'string', default: '50000' },
    batch: { type: 'string', default: '100' },
    chunk: { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '100' },
    shallow: { type: 'string', default: '1000' },
    deep: { type: 'string', default: '1000000' },
    claims: { type: 'string', default: '20000' },
    rounds: { type: 'string', default: '3' },
    'no-redis': { type: 'boolean', default: false },
  },
});
const jobs = Number(args.jobs);
const batch = Number(args.batch);
const chunk = Number(args.chunk);
const concurrency = Number(args.concurrency);
const shallow = Number(args.shallow);
const deep = Number(args.deep);
const claims = Number(args.claims);
const rounds = Number(args.rounds);

const workDir = mkdtempSync(path.join(tmpdir(), 'inferq-bench-'));
let stopRedis: (() => void) | undefined;
function cleanUp(): void {
  stopRedis?.();
  stopRedis = undefined;
  rmSync(workDir, { recursive: true, force: true });
}
process.on('exit', cleanUp);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    cleanUp();
    process.exit(130);
  });
}

/** A payload shaped like a real job: ids and a content hash, ~150 bytes of JSON. */
function payload(i: number): JobInput['payload'] {
  return {
    taskId: `0192f3a4-5b6c-7d8e-9f00-${String(i).padStart(12, '0')}`,
    model: 'ppocr-det@4',
    input: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    item: i,
  };
}

const perSecond = (count: number, ms: number): number => (count * 1000) / ms;
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

// --- SQLite ---

interface Throughput {
  enqueue: number;
  leaseAck: number;
}

async function sqliteThroughput(round: number): Promise<Throughput> {
  const file = path.join(workDir, `throughput-${round}.db`);
  const broker = SqliteBroker.open(file);
  const queue = 'bench';
  let start = performance.now();
  for (let i = 0; i < jobs; i += chunk) {
    const size = Math.min(chunk, jobs - i);
    await broker.enqueueMany(
      queue,
      Array.from({ length: size }, (_, k) => ({ payload: payload(i + k) })),
    );
  }
  const enqueueMs = performance.now() - start;

  start = performance.now();
  let done = 0;
  for (;;) {
    const leased = await broker.lease(queue, { max: batch, leaseMs: 30_000 });
    if (leased.length === 0) break;
    done += await broker.ack(leased);
  }
  const leaseAckMs = performance.now() - start;
  if (done !== jobs) throw new Error(`sqlite acked ${done} of ${jobs}`);
  await broker.close();
  for (const suffix of ['', '-wal', '-shm']) rmSync(file + suffix, { force: true });
  return { enqueue: perSecond(jobs, enqueueMs), leaseAck: perSecond(jobs, leaseAckMs) };
}

/**
 * Claim rate (lease `batch` + ack) from a queue held at `depth` jobs: each claimed batch is
 * replaced by a new one, untimed, so the queue stays as deep as asked throughout.
 */
class DepthProbe {
  private next = 0;
  private readonly batchMs: number[] = [];

  private constructor(
    private readonly broker: SqliteBroker,
    readonly depth: number,
  ) {}

  static async create(depth: number): Promise<DepthProbe> {
    const probe = new DepthProbe(SqliteBroker.open(path.join(workDir, `depth-${depth}.db`)), depth);
    for (let i = 0; i < depth; i += 10_000) await probe.refill(Math.min(10_000, depth - i));
    return probe;
  }

  private refill(count: number): Promise<string[]> {
    return this.broker.enqueueMany(
      'depth',
      Array.from({ length: count }, () => ({ payload: payload(this.next++) })),
    );
  }

  async round(timed: boolean): Promise<void> {
    const t0 = performance.now();
    const leased = await this.broker.lease('depth', { max: batch, leaseMs: 30_000 });
    await this.broker.ack(leased);
    const elapsed = performance.now() - t0;
    if (leased.length !== batch) throw new Error(`leased ${leased.length}, expected ${batch}`);
    if (timed) this.batchMs.push(elapsed);
    await this.refill(leased.length);
  }

  /** Jobs per second at the median batch time. */
  get rate(): number {
    return perSecond(batch, median(this.batchMs));
  }

  async close(): Promise<void> {
    const { waiting } = await this.broker.depth('depth');
    if (waiting !== this.depth) throw new Error(`depth drifted: ${waiting} waiting, expected ${this.depth}`);
    await this.broker.close();
  }
}

/**
 * The shallow and the deep queue are measured in alternating batches, so that the noise of a
 * shared machine (a neighbour's burst) falls on both alike and the ratio reflects the queue
 * depth only.
 */
async function sqliteClaimRates(): Promise<{ shallow: number; deep: number }> {
  const probes = [await DepthProbe.create(shallow), await DepthProbe.create(deep)] as const;
  for (let i = 0; i < 50; i++) for (const probe of probes) await probe.round(false); // warm caches
  for (let claimed = 0; claimed < claims; claimed += batch)
    for (const probe of probes) await probe.round(true);
  for (const probe of probes) await probe.close();
  return { shallow: probes[0].rate, deep: probes[1].rate };
}

// --- BullMQ on a local Redis ---

async function startRedis(binary: string): Promise<number> {
  const redis = await startLocalRedis(binary, path.join(workDir, 'redis'));
  stopRedis = redis.stop;
  return redis.port;
}

async function bullmqThroughput(port: number, round: number): Promise<Throughput> {
  const connection = { host: '127.0.0.1', port, maxRetriesPerRequest: null };
  const name = `bench-${round}`;
  const queue = new Queue(name, { connection });
  await queue.waitUntilReady();
  const opts = { removeOnComplete: true, removeOnFail: true, attempts: 3 };
  let start = performance.now();
  for (let i = 0; i < jobs; i += chunk) {
    const size = Math.min(chunk, jobs - i);
    await queue.addBulk(
      Array.from({ length: size }, (_, k) => ({ name: 'job', data: payload(i + k), opts })),
    );
  }
  const enqueueMs = performance.now() - start;

  // BullMQ's own consumer: a Worker with `concurrency` jobs in flight, fetching the next job in
  // the same round trip that completes the previous one (moveToFinished with fetchNext).
  let done = 0;
  let finished: () => void = () => {};
  const allDone = new Promise<void>((resolve) => {
    finished = resolve;
  });
  const worker = new Worker(name, async () => undefined, {
    connection,
    concurrency,
    autorun: false,
    removeOnComplete: { count: 0 },
    removeOnFail: { count: 0 },
  });
  worker.on('completed', () => {
    done += 1;
    if (done === jobs) finished();
  });
  await worker.waitUntilReady();
  start = performance.now();
  void worker.run();
  await allDone;
  const leaseAckMs = performance.now() - start;
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
  return { enqueue: perSecond(jobs, enqueueMs), leaseAck: perSecond(jobs, leaseAckMs) };
}

// --- report ---

function row(label: string, sqlite: number, bullmq?: number): string {
  const ratio = bullmq === undefined ? '' : `${(sqlite / bullmq).toFixed(2)}×`;
  return `${label.padEnd(34)}${fmt(sqlite).padStart(12)}${(bullmq === undefined ? '-' : fmt(bullmq)).padStart(12)}${ratio.padStart(9)}`;
}

async function main(): Promise<void> {
  console.log(
    `inferq broker bench: ${jobs.toLocaleString('en-US')} jobs, lease batch ${batch}, enqueue chunk ${chunk}, ` +
      `BullMQ concurrency ${concurrency}; node ${process.version}, ${cpus().length} CPU(s)`,
  );
  const redisBinary = args['no-redis'] ? undefined : findOnPath('redis-server');
  let port: number | undefined;
  if (redisBinary === undefined) {
    console.log(
      '\n!!! redis-server not found on PATH (or --no-redis): NO BullMQ COMPARISON, SQLite figures only. !!!\n' +
        '!!! Install it (apt-get install -y redis-server) to compare.                                   !!!\n',
    );
  } else {
    port = await startRedis(redisBinary);
    console.log(`redis-server started on 127.0.0.1:${port} (${redisBinary}, no persistence)`);
  }
  const sqliteRounds: Throughput[] = [];
  const bullRounds: Throughput[] = [];
  for (let round = 0; round < rounds; round++) {
    if (port !== undefined) bullRounds.push(await bullmqThroughput(port, round));
    sqliteRounds.push(await sqliteThroughput(round));
  }
  const med = (results: Throughput[], key: keyof Throughput): number | undefined =>
    results.length === 0 ? undefined : median(results.map((r) => r[key]));

  console.log(
    `\n${`jobs/s (median of ${rounds} rounds)`.padEnd(34)}${'SqliteBroker'.padStart(12)}${'BullMQ'.padStart(12)}${'ratio'.padStart(9)}`,
  );
  console.log(
    row('enqueue (enqueueMany / addBulk)', med(sqliteRounds, 'enqueue')!, med(bullRounds, 'enqueue')),
  );
  console.log(row('no-op lease+ack', med(sqliteRounds, 'leaseAck')!, med(bullRounds, 'leaseAck')));

  const { shallow: shallowRate, deep: deepRate } = await sqliteClaimRates();
  console.log(
    `\nSqliteBroker claim rate (lease ${batch} + ack, median of ${claims / batch} batches each), depth held constant:`,
  );
  console.log(`  ${fmt(shallow).padStart(10)} queued: ${fmt(shallowRate).padStart(9)} jobs/s`);
  console.log(`  ${fmt(deep).padStart(10)} queued: ${fmt(deepRate).padStart(9)} jobs/s`);
  console.log(`  ratio deep/shallow: ${(deepRate / shallowRate).toFixed(2)} (target ≥ 0.90)`);

  console.log(`\npeak RSS: ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`);
}

main()
  .then(() => {
    cleanUp();
    process.exit(0);
  })
  .catch((err: unknown) => {
    console.error(err);
    cleanUp();
    process.exit(1);
  });
