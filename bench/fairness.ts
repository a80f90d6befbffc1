/**
 * bench/fairness: fair shares between tenants, per broker, side by side in one run.
 *
 *   1. Tenant B's single job enqueued behind tenant A's `--backlog` (default 2,000): the lease
 *      position of B's job (goal: within the first two batches of `--batch`, default 32), and
 *      A's throughput (lease + ack, no work) against the same backlog without B (goal: under 5%
 *      lower). The two queues are leased batch by batch in turn; medians of `--rounds` rounds.
 *   2. The worse case: A's `--big` (10,000) queued, B's one, then A's `--big` more at
 *      priority 1000: B's lease position.
 *   3. SQLite and Redis: the lease + ack rate with 1, 10 and 100 tenants with backlog (the fair
 *      claim sorts up to tenants × batch candidates; Redis's plan script reads every listed
 *      tenant's counts), and with 2 on a queue 1,000 other tenants used before (their bookkeeping
 *      must cost nothing), against one tenant. SQLite per CPU-second of this process (it works
 *      in it); Redis per wall second (the work is in the server).
 *
 *   npx tsx bench/fairness.ts [--backlog 2000] [--batch 32] [--rounds 15] [--big 10000]
 *                             [--redis-url redis://127.0.0.1:6379] [--amqp-url amqp://…]
 *                             [--postgres-url postgres://…]
 *
 * SQLite always runs (a temp file). Redis, RabbitMQ and PostgreSQL run when their URL is given,
 * under a fresh key prefix / queue names / schema that are deleted at the end. A broker without the
 * `fairShares` capability is measured all the same (so its figure shows what it does) and
 * printed with the reason it gives.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import pg from 'pg';
import type { JobInput } from '../src/core/job.js';
import type { Broker } from '../src/queue/broker.js';
import { PostgresBroker } from '../src/queue/postgres/postgres-broker.js';
import { RabbitMqBroker } from '../src/queue/rabbitmq/rabbitmq-broker.js';
import { RedisBroker } from '../src/queue/redis/redis-broker.js';
import { SqliteBroker } from '../src/queue/sqlite/sqlite-broker.js';
import { median, percentile } from './lib/stats.js';

const { values: args } = parseArgs({
  options: {
    backlog: { type: 'string', default: '2000' },
    batch: { type: 'string', default: '32' },
    rounds: { type: 'string', default: '15' },
    big: { type: 'string', default: '10000' },
    'redis-url': { type: 'string' },
    'amqp-url': { type: 'string' },
    'postgres-url': { type: 'string' },
  },
});
const backlog = Number(args.backlog);
const batch = Number(args.batch);
const rounds = Number(args.rounds);
const big = Number(args.big);

const workDir = mkdtempSync(path.join(tmpdir(), 'inferq-bench-fair-'));
process.on('exit', () => rmSync(workDir, { recursive: true, force: true }));

const prefix = `inferq-bench-fair-${randomBytes(4).toString('hex')}`;
let queueCounter = 0;
function newQueue(): string {
  return `fair-${++queueCounter}`;
}

const payload = (i: number) => ({ taskId: `0192f3a4-5b6c-7d8e-9f00-${String(i).padStart(12, '0')}` });

function jobsOf(tenant: string, count: number, extra: Partial<JobInput> = {}, from = 0): JobInput[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `${tenant}-${from + i}`,
    payload: payload(from + i),
    tenant,
    ...extra,
  }));
}

async function enqueueAll(broker: Broker, queue: string, jobs: readonly JobInput[]): Promise<void> {
  for (let i = 0; i < jobs.length; i += 500) await broker.enqueueMany(queue, jobs.slice(i, i + 500));
}

/**
 * Leases batches (and acks them) until `total` jobs were leased or `stopAt` was; the 1-based
 * position of `stopAt` (if seen) and the time taken.
 */
async function drain(
  broker: Broker,
  queue: string,
  total: number,
  stopAt?: string,
): Promise<{ ms: number; cpuMs: number; position: number | undefined }> {
  const started = performance.now();
  const cpu = process.cpuUsage();
  let leased = 0;
  let position: number | undefined;
  let empty = 0;
  while (leased < total && position === undefined) {
    const jobs = await broker.lease(queue, { max: batch, leaseMs: 60_000, waitMs: 200 });
    if (jobs.length === 0 && ++empty > 25)
      throw new Error(`${broker.kind}: ${total - leased} jobs never came`);
    for (const [i, job] of jobs.entries()) if (job.id === stopAt) position = leased + i + 1;
    leased += jobs.length;
    if (jobs.length > 0) await broker.ack(jobs);
  }
  const used = process.cpuUsage(cpu);
  return { ms: performance.now() - started, cpuMs: (used.user + used.system) / 1000, position };
}

interface BrokerFigures {
  kind: string;
  fair: string;
  position: number;
  aloneRate: number;
  withBRate: number;
  /** Median over rounds of A's rate with B / alone, each round's pair measured in turn. */
  costRatio: number;
  /** The same from this process's CPU time (all of SQLite's work; only the client's for the others). */
  cpuCostRatio: number;
  /** The middle half of the rounds' CPU ratios (p25–p75): how far one round's figure can be trusted. */
  cpuSpread: string;
  bigPosition: number | undefined;
}

/** One lease + ack of up to a batch; the jobs' ids and the time it took. */
async function leaseAndAck(
  broker: Broker,
  queue: string,
): Promise<{ ids: string[]; ms: number; cpuMs: number }> {
  const started = performance.now();
  const cpu = process.cpuUsage();
  const jobs = await broker.lease(queue, { max: batch, leaseMs: 60_000, waitMs: 200 });
  if (jobs.length > 0) await broker.ack(jobs);
  const used = process.cpuUsage(cpu);
  return {
    ids: jobs.map((j) => j.id),
    ms: performance.now() - started,
    cpuMs: (used.user + used.system) / 1000,
  };
}

/**
 * A's throughput alone and with B's job beside it, measured batch by batch in turn on two
 * queues (A alone; A then B), so that noise on a shared machine falls on both alike; and where
 * B's job was leased.
 */
async function aloneAndWithB(
  broker: Broker,
): Promise<{ alone: number; withB: number; cpuRatio: number; position: number }> {
  const alone = newQueue();
  const withB = newQueue();
  await enqueueAll(broker, alone, jobsOf('tenant-a', backlog));
  await enqueueAll(broker, withB, jobsOf('tenant-a', backlog));
  await broker.enqueue(withB, { id: 'tenant-b-only', payload: payload(0), tenant: 'tenant-b' });
  const time = { alone: 0, withB: 0 };
  const cpu = { alone: 0, withB: 0 };
  const left = { alone: backlog, withB: backlog + 1 };
  let leased = 0;
  let position = Number.NaN;
  let empty = 0;
  const leaseAlone = async () => {
    const run = await leaseAndAck(broker, alone);
    time.alone += run.ms;
    cpu.alone += run.cpuMs;
    left.alone -= run.ids.length;
    if (run.ids.length === 0) empty++;
  };
  let turn = 0;
  while (left.alone > 0 || left.withB > 0) {
    // Which queue goes first alternates too: the second of two back-to-back claims is cheaper.
    const aloneFirst = turn++ % 2 === 0;
    if (aloneFirst && left.alone > 0) await leaseAlone();
    if (left.withB > 0) {
      const run = await leaseAndAck(broker, withB);
      time.withB += run.ms;
      cpu.withB += run.cpuMs;
      left.withB -= run.ids.length;
      const at = run.ids.indexOf('tenant-b-only');
      if (at >= 0) position = leased + at + 1;
      leased += run.ids.length;
      if (run.ids.length === 0) empty++;
    }
    if (!aloneFirst && left.alone > 0) await leaseAlone();
    if (empty > 25) throw new Error(`${broker.kind}: jobs never came`);
  }
  // A's rate with B: A's jobs over the whole time, B's job included (its lease is A's cost).
  return {
    alone: (backlog * 1000) / time.alone,
    withB: (backlog * 1000) / time.withB,
    cpuRatio: cpu.alone / cpu.withB,
    position,
  };
}

async function measure(broker: Broker): Promise<BrokerFigures> {
  const aloneRates: number[] = [];
  const withBRates: number[] = [];
  const ratios: number[] = [];
  const cpuRatios: number[] = [];
  const positions: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const run = await aloneAndWithB(broker);
    aloneRates.push(run.alone);
    withBRates.push(run.withB);
    ratios.push(run.withB / run.alone);
    cpuRatios.push(run.cpuRatio);
    positions.push(run.position);
  }
  let bigPosition: number | undefined;
  if (big > 0) {
    const queue = newQueue();
    await enqueueAll(broker, queue, jobsOf('tenant-a', big));
    await broker.enqueue(queue, { id: 'tenant-b-only', payload: payload(0), tenant: 'tenant-b' });
    await enqueueAll(broker, queue, jobsOf('tenant-a', big, { priority: 1_000 }, big));
    bigPosition = (await drain(broker, queue, 2 * big + 1, 'tenant-b-only')).position;
  }
  return {
    kind: broker.kind,
    fair: broker.capabilities.fairShares
      ? 'yes'
      : `missing: ${broker.missingCapabilities?.fairShares ?? 'no reason given'}`,
    position: median(positions),
    aloneRate: median(aloneRates),
    withBRate: median(withBRates),
    costRatio: median(ratios),
    cpuCostRatio: median(cpuRatios),
    cpuSpread: spread(cpuRatios),
    bigPosition,
  };
}

/** One job each of `count` tenants, leased and acked: their bookkeeping stays, nothing waits. */
async function serveIdleTenants(broker: Broker, queue: string, count: number): Promise<void> {
  const jobs = Array.from({ length: count }, (_, i) => ({ payload: payload(i), tenant: `idle-${i}` }));
  await enqueueAll(broker, queue, jobs);
  await drain(broker, queue, count);
}

/** Lease+ack rate with `tenants` tenants with backlog, medians of interleaved rounds. */
async function claimRateByTenants(
  broker: Broker,
  counts: readonly number[],
  clock: 'cpu' | 'wall',
): Promise<Map<number, number>> {
  const perTenant = 4_000;
  const rates = new Map<number, number[]>(counts.map((c) => [c, []]));
  for (let round = 0; round < rounds; round++) {
    for (const tenants of counts) {
      const queue = newQueue();
      // A negative count: 2 tenants with backlog on a queue that 1,000 others used before.
      if (tenants < 0) await serveIdleTenants(broker, queue, -tenants);
      const jobs: JobInput[] = [];
      const active = tenants < 0 ? 2 : tenants;
      const each = Math.ceil(perTenant / active);
      for (let t = 0; t < active; t++) jobs.push(...jobsOf(`t${t}`, each));
      await enqueueAll(broker, queue, jobs);
      const run = await drain(broker, queue, jobs.length);
      // SQLite per CPU-second of this process (it works in it): steadier than wall time on a
      // shared host. Redis per wall second: its work is in the server.
      rates.get(tenants)!.push((jobs.length * 1000) / (clock === 'cpu' ? run.cpuMs : run.ms));
    }
  }
  return new Map([...rates].map(([c, r]) => [c, median(r)]));
}

function spread(ratios: readonly number[]): string {
  const sorted = [...ratios].sort((a, b) => a - b);
  return `${times(percentile(sorted, 25))} .. ${times(percentile(sorted, 75))}`;
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
/** A's rate with B over its rate alone: 1.00x costs nothing, the goal is at least 0.95x. */
const times = (ratio: number): string => `${ratio.toFixed(3)}x`;

const results: BrokerFigures[] = [];
const claimRates = new Map<string, Map<number, number>>();

const sqlite = SqliteBroker.open(path.join(workDir, 'queue.db'));
try {
  results.push(await measure(sqlite));
  claimRates.set('sqlite', await claimRateByTenants(sqlite, [1, 10, 100, -1_000], 'cpu'));
} finally {
  await sqlite.close();
}

if (args['redis-url']) {
  const broker = await RedisBroker.open(args['redis-url'], { prefix });
  try {
    results.push(await measure(broker));
    claimRates.set('redis', await claimRateByTenants(broker, [1, 10, 100, -1_000], 'wall'));
  } finally {
    await broker.close();
    const redis = new Redis(args['redis-url']);
    const keys = await redis.keys(`${prefix}:*`);
    // In chunks: a long run leaves more keys than one call's arguments can spread.
    for (let i = 0; i < keys.length; i += 1_000) await redis.del(...keys.slice(i, i + 1_000));
    await redis.quit();
  }
}

if (args['amqp-url']) {
  const broker = await RabbitMqBroker.open(args['amqp-url'], { prefix });
  try {
    results.push(await measure(broker));
  } finally {
    // Every name the handle declared: each queue's work and dead queues and its 14 delay buckets
    // (deleting only the first two left 210 delay queues behind per run).
    await broker.deleteNames(broker.declaredNames()).catch(() => undefined);
    await broker.close();
  }
}

if (args['postgres-url']) {
  const url = args['postgres-url'];
  const schema = prefix.replaceAll('-', '_');
  const broker = await PostgresBroker.open(url, { schema });
  try {
    results.push(await measure(broker));
  } finally {
    await broker.close();
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.end();
  }
}

console.log(
  `fairness: tenant B's 1 job behind tenant A's ${fmt(backlog)}, batches of ${batch}, median of ${rounds} rounds`,
);
console.log(
  `broker    fair shares  B leased at  batch  A alone/s  A with B/s  A with/alone  (cpu)  B behind A ${fmt(big)} + ${fmt(big)}@1000`,
);
for (const r of results) {
  console.log(
    [
      r.kind.padEnd(9),
      (r.fair === 'yes' ? 'yes' : 'missing').padEnd(12),
      String(r.position).padStart(11),
      String(Math.ceil(r.position / batch)).padStart(6),
      fmt(r.aloneRate).padStart(10),
      fmt(r.withBRate).padStart(11),
      times(r.costRatio).padStart(12),
      times(r.cpuCostRatio).padStart(7),
      String(r.bigPosition ?? '-').padStart(28),
    ].join('  '),
  );
}
console.log(
  "  (A with/alone: median over rounds of the paired ratio of A's rate with B to its rate alone, lease + ack with no work, goal >= 0.95x; " +
    "'cpu' from this process's CPU time, which holds all of SQLite's work and is steadier on a shared host)",
);
for (const r of results)
  console.log(`  ${r.kind}: A with/alone (cpu), middle half of the rounds: ${r.cpuSpread}`);
for (const r of results) if (r.fair !== 'yes') console.log(`  ${r.kind}: fair shares ${r.fair}`);
if (args['redis-url'] === undefined) console.log('  redis: not run (give --redis-url)');
if (args['amqp-url'] === undefined) console.log('  rabbitmq: not run (give --amqp-url)');
if (args['postgres-url'] === undefined) console.log('  postgres: not run (give --postgres-url)');
for (const [kind, rates] of claimRates) {
  const one = rates.get(1)!;
  const per = kind === 'sqlite' ? 'CPU-second' : 'second (wall)';
  console.log(`${kind} lease+ack jobs per ${per} by tenants with backlog:`);
  for (const [tenants, rate] of rates) {
    const what = tenants < 0 ? `2 tenants + ${fmt(-tenants)} idle` : `${tenants} tenants`;
    console.log(
      `  ${what.padStart(20)}: ${fmt(rate).padStart(7)} jobs/s  (${(rate / one).toFixed(2)}x of 1)`,
    );
  }
}
