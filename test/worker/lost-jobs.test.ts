import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LeasedJob } from '../../src/core/job.js';
import { taskJob } from '../../src/core/task-job.js';
import type { Broker } from '../../src/queue/broker.js';
import { RabbitMqBroker } from '../../src/queue/rabbitmq/rabbitmq-broker.js';
import { RedisBroker } from '../../src/queue/redis/redis-broker.js';
import { SqliteBroker } from '../../src/queue/sqlite/sqlite-broker.js';
import { SqliteTaskStore } from '../../src/store/sqlite/sqlite-task-store.js';
import { sweepOutbox } from '../../src/worker/housekeeping/outbox-sweeper.js';
import { processBatch } from '../../src/worker/process-batch.js';

// A task whose worker died while it ran, and whose job vanished with it (a Redis that restarted
// empty, a message lost with its node): the broker has nothing left to redeliver, so only the
// store knows the task is unfinished. The outbox sweeper's store-side requeue enqueues its job
// again, and a healthy worker's claim takes the expired lease over. Run on each broker.

const queue = 'echo@1';
const graceMs = 60_000;
/** The victim's lease: short, so that it runs out during the test. */
const victimLeaseMs = 200;

interface BrokerCase {
  name: string;
  skip?: string;
  open(): Promise<Opened>;
}

interface Opened {
  broker: Broker;
  /** The worker that dies: its own broker handle. */
  victim: Broker;
  /** Makes the broker lose the job the victim holds. */
  lose(job: LeasedJob): Promise<void>;
  cleanup(): Promise<void>;
}

const redisUrl = process.env.TEST_REDIS_URL;
const amqpUrl = process.env.TEST_AMQP_URL;
const prefix = () => `inferq-test-${randomBytes(4).toString('hex')}`;

const cases: BrokerCase[] = [
  {
    name: 'SQLite',
    async open() {
      const dir = mkdtempSync(path.join(tmpdir(), 'inferq-lost-jobs-'));
      const broker = SqliteBroker.open(path.join(dir, 'queue.db'));
      return {
        broker,
        victim: broker,
        // The job is acked away while its task still runs: the queue no longer holds it.
        lose: async (job) => void (await broker.ack([job])),
        async cleanup() {
          await broker.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  },
  {
    name: 'Redis',
    ...(redisUrl === undefined ? { skip: 'TEST_REDIS_URL is unset' } : {}),
    async open() {
      const p = prefix();
      const broker = await RedisBroker.open(redisUrl!, { prefix: p });
      const victim = await RedisBroker.open(redisUrl!, { prefix: p });
      return {
        broker,
        victim,
        // The victim is gone, and Redis restarted empty: every key of this deployment with it.
        async lose() {
          await victim.close();
          await flush(p);
        },
        async cleanup() {
          await broker.close();
          await victim.close();
          await flush(p);
        },
      };
    },
  },
  {
    name: 'RabbitMQ',
    ...(amqpUrl === undefined ? { skip: 'TEST_AMQP_URL is unset' } : {}),
    async open() {
      const p = prefix();
      const backoff = { baseMs: 50, maxMs: 200, jitter: 0 };
      const broker = await RabbitMqBroker.open(amqpUrl!, { prefix: p, backoff });
      const victim = await RabbitMqBroker.open(amqpUrl!, { prefix: p, backoff });
      return {
        broker,
        victim,
        // The message is gone (acked away, as a node lost with it would leave it).
        lose: async (job) => void (await victim.ack([job])),
        async cleanup() {
          const names = [broker, victim].map((b) => b.declaredNames());
          await broker.close();
          await victim.close();
          const admin = await RabbitMqBroker.open(amqpUrl!, { prefix: p });
          await admin.deleteNames({
            queues: [...new Set(names.flatMap((n) => n.queues))],
            exchanges: [...new Set(names.flatMap((n) => n.exchanges))],
          });
          await admin.close();
        },
      };
    },
  },
];

async function flush(p: string): Promise<void> {
  const redis = new Redis(redisUrl!);
  const keys = await redis.keys(`${p}:*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
}

for (const c of cases) {
  describe.skipIf(c.skip !== undefined)(
    `lost jobs on ${c.name}${c.skip ? ` — skipped: ${c.skip}` : ''}`,
    () => {
      let dir: string;
      let store: SqliteTaskStore;
      let opened: Opened;

      beforeEach(async () => {
        dir = mkdtempSync(path.join(tmpdir(), 'inferq-lost-jobs-store-'));
        store = SqliteTaskStore.open(path.join(dir, 'inferq.db'));
        opened = await c.open();
      });
      afterEach(async () => {
        await opened.cleanup();
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      });

      it('a task whose job vanished while it ran completes after its worker died, run once more and only once', async () => {
        const { broker, victim } = opened;
        const [task] = await store.createTasks([
          {
            requestId: 'lost',
            owner: 't',
            target: { kind: 'model', name: 'echo', version: '1' },
            input: { sha256: 'a'.repeat(64), size: 1, mediaType: 'text/plain' },
            maxAttempts: 3,
          },
        ]);
        await broker.enqueue(queue, taskJob(task!));

        // The victim leases the job and claims the task, then dies: no renewal, no outcome.
        const [job] = await victim.lease(queue, { max: 1, leaseMs: victimLeaseMs, waitMs: 5_000 });
        expect(job).toBeDefined();
        const [claim] = await store.claimTasks([
          { id: task!.id, leaseToken: job!.token, workerId: 'victim', leaseMs: victimLeaseMs },
        ]);
        expect(claim?.claimed).toBe(true);
        await opened.lose(job!);
        // Past the row's lease.
        const expiry = claim!.claimed ? claim!.task.updatedAt + victimLeaseMs : 0;
        while (Date.now() <= expiry) await new Promise((resolve) => setTimeout(resolve, 10));
        await broker.reapExpiredLeases();
        const depth = await broker.depth(queue);
        expect(depth.waiting + depth.delayed + depth.leased).toBe(0);

        // The sweeps of two API hosts, a grace after the lease ran out.
        const later = Date.now() + graceMs;
        expect(await sweepOutbox({ store, broker, graceMs, now: later })).toBe(1);
        const second = await sweepOutbox({ store, broker, graceMs, now: later });
        // A broker that dedupes by id holds one job; RabbitMQ now holds two: a duplicate.
        expect(second).toBe(broker.capabilities.liveJobLookup ? 0 : 1);

        const ran: string[] = [];
        const deadline = Date.now() + 20_000;
        while (Date.now() < deadline) {
          const jobs = await broker.lease(queue, { max: 10, leaseMs: 5_000, waitMs: 200 });
          if (jobs.length > 0) {
            await processBatch(
              {
                store,
                broker,
                workerId: 'healthy',
                handler: async (items) => {
                  ran.push(...items.map((i) => i.task.id));
                  return items.map(() => ({ ok: true as const, result: { by: 'healthy' } }));
                },
              },
              jobs,
            );
          }
          const left = await broker.depth(queue);
          if (
            left.waiting + left.delayed + left.leased === 0 &&
            (await store.getTask(task!.id))?.state === 'succeeded'
          )
            break;
        }

        expect(ran).toEqual([task!.id]);
        const stored = await store.getTask(task!.id);
        expect(stored).toMatchObject({ state: 'succeeded', attempts: 2, result: { by: 'healthy' } });
        expect(stored?.timeline.map((e) => e.stage)).toContain('lease-expired');
        // Settled: nothing left for a later sweep.
        expect(await sweepOutbox({ store, broker, graceMs, now: Date.now() + graceMs })).toBe(0);
      }, 60_000);
    },
  );
}

describe.skipIf(redisUrl === undefined)(
  `lost jobs on Redis, the worker a process killed${redisUrl === undefined ? ' — skipped: TEST_REDIS_URL is unset' : ''}`,
  () => {
    it('a task whose worker process was SIGKILLed mid-run, and whose Redis came back empty, completes', async () => {
      const dir = mkdtempSync(path.join(tmpdir(), 'inferq-lost-jobs-kill-'));
      const dbPath = path.join(dir, 'inferq.db');
      const store = SqliteTaskStore.open(dbPath);
      const p = prefix();
      const broker = await RedisBroker.open(redisUrl!, { prefix: p });
      try {
        const [task] = await store.createTasks([
          {
            requestId: 'killed',
            owner: 't',
            target: { kind: 'model', name: 'echo', version: '1' },
            input: { sha256: 'b'.repeat(64), size: 1, mediaType: 'text/plain' },
            maxAttempts: 3,
          },
        ]);
        await broker.enqueue(queue, taskJob(task!));

        const fixture = path.join(import.meta.dirname, '..', 'fixtures', 'lost-job-victim.ts');
        const child = spawn(
          process.execPath,
          ['--import', 'tsx', fixture, dbPath, redisUrl!, p, queue, String(victimLeaseMs)],
          { stdio: ['ignore', 'pipe', 'pipe'] },
        );
        let stderr = '';
        child.stderr.on('data', (d) => {
          stderr += d;
        });
        await new Promise<void>((resolve, reject) => {
          let out = '';
          child.stdout.on('data', (d) => {
            out += d;
            if (out.includes(`READY ${task!.id}`)) resolve();
          });
          child.on('exit', (code) => reject(new Error(`victim exited early (${code}): ${stderr}`)));
        });
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGKILL');
        await exited;
        expect(await store.getTaskWithoutTimeline(task!.id)).toMatchObject({ state: 'running', attempts: 1 });
        // Redis restarts empty: the job the dead worker held is gone with every other key.
        await flush(p);
        const running = (await store.getTaskWithoutTimeline(task!.id))!;
        while (Date.now() <= running.updatedAt + victimLeaseMs) await new Promise((r) => setTimeout(r, 10));

        expect(await sweepOutbox({ store, broker, graceMs, now: Date.now() + graceMs })).toBe(1);
        const ran: string[] = [];
        const deadline = Date.now() + 20_000;
        while (
          (await store.getTaskWithoutTimeline(task!.id))?.state !== 'succeeded' &&
          Date.now() < deadline
        ) {
          const jobs = await broker.lease(queue, { max: 10, leaseMs: 5_000, waitMs: 200 });
          await processBatch(
            {
              store,
              broker,
              workerId: 'healthy',
              handler: async (items) => {
                ran.push(...items.map((i) => i.task.id));
                return items.map(() => ({ ok: true as const, result: { by: 'healthy' } }));
              },
            },
            jobs,
          );
        }
        expect(ran).toEqual([task!.id]);
        const stored = await store.getTask(task!.id);
        expect(stored).toMatchObject({ state: 'succeeded', attempts: 2, result: { by: 'healthy' } });
        expect(stored?.timeline.find((e) => e.stage === 'lease-expired')?.data).toMatchObject({
          workerId: `victim-${child.pid}`,
        });
        const left = await broker.depth(queue);
        expect(left.waiting + left.delayed + left.leased).toBe(0);
      } finally {
        await broker.close();
        await flush(p);
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      }
    }, 60_000);
  },
);
