import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import type { BroadcastMessage, LeasedJob } from '../../src/core/job.js';
import { isInferqError } from '../../src/errors/index.js';
import { notifyChannel, PostgresBroker } from '../../src/queue/postgres/postgres-broker.js';
import { runBrokerContract } from '../contracts/broker.contract.js';
import { freshSchema, postgresSkipReason, testPostgresUrl } from '../fixtures/pg-schema.js';

const url = testPostgresUrl;

describe.skipIf(url === undefined)(url === undefined ? postgresSkipReason : 'PostgreSQL', () => {
  // Each test owns a schema (pg-schema.ts), dropped after.
  runBrokerContract('PostgresBroker', async () => {
    const { schema, drop } = await freshSchema(url!);
    const broker = await PostgresBroker.open(url!, {
      schema,
      pollIntervalMs: 50,
      backoff: { baseMs: 50, maxMs: 200, jitter: 0 },
    });
    return {
      broker,
      reopen: () => PostgresBroker.open(url!, { schema, pollIntervalMs: 50 }),
      async cleanup() {
        await broker.close();
        await drop();
      },
    };
  });

  describe('PostgresBroker (PostgreSQL specifics)', () => {
    const cleanups: Array<() => Promise<void>> = [];
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    });
    /** A schema of the test's own and `count` handles on it, all closed after the test. */
    const handles = async (
      count: number,
      options = {},
    ): Promise<{ schema: string; brokers: PostgresBroker[] }> => {
      const { schema, drop } = await freshSchema(url!);
      cleanups.push(drop);
      const brokers: PostgresBroker[] = [];
      for (let i = 0; i < count; i++) {
        const broker = await PostgresBroker.open(url!, { schema, ...options });
        cleanups.push(() => broker.close());
        brokers.push(broker);
      }
      return { schema, brokers };
    };

    it('two workers racing for expired leases: each job is reaped once and won by exactly one', async () => {
      const { brokers } = await handles(3);
      const [holder, one, two] = brokers as [PostgresBroker, PostgresBroker, PostgresBroker];
      const total = 60;
      await holder.enqueueMany(
        'q',
        Array.from({ length: total }, (_, i) => ({ id: `j${i}`, payload: i })),
      );
      const stale = await holder.lease('q', { max: total, leaseMs: 150 });
      expect(stale).toHaveLength(total);
      await new Promise((resolve) => setTimeout(resolve, 300));
      // Both reap and lease at once, as two hosts' workers do when a third host died.
      const race = async (broker: PostgresBroker) => {
        const reaped = await broker.reapExpiredLeases();
        const won: LeasedJob[] = [];
        for (;;) {
          const jobs = await broker.lease('q', { max: 7, leaseMs: 60_000 });
          if (jobs.length === 0) return { reaped, won };
          won.push(...jobs);
        }
      };
      const [a, b] = await Promise.all([race(one), race(two)]);
      expect(a.reaped + b.reaped).toBe(total);
      const won = [...a.won, ...b.won];
      expect(won.map((j) => j.id).sort()).toEqual(stale.map((j) => j.id).sort());
      expect(new Set(won.map((j) => j.id)).size).toBe(total);
      expect(won.every((j) => j.attempts === 2)).toBe(true);
      // The first holder lost every lease: its late acks and nacks change nothing.
      expect(await holder.ack(stale)).toBe(0);
      expect(await holder.nack(stale[0]!, { error: 'late' })).toBe('stale');
      expect(await one.ack(won)).toBe(total);
      expect(await one.depth('q')).toEqual({ waiting: 0, delayed: 0, leased: 0, dead: 0 });
    });

    it('fair claims from many leasers on two handles at once, five tenants: every job leased once', async () => {
      const { brokers } = await handles(2);
      const tenants = ['t0', 't1', 't2', 't3', 't4'];
      const perTenant = 120;
      await brokers[0]!.enqueueMany(
        'q',
        tenants.flatMap((tenant) =>
          Array.from({ length: perTenant }, (_, i) => ({ id: `${tenant}-${i}`, payload: i, tenant })),
        ),
      );
      const seen: string[] = [];
      const leaser = async (broker: PostgresBroker): Promise<void> => {
        for (;;) {
          const jobs = await broker.lease('q', { max: 5, leaseMs: 60_000 });
          if (jobs.length === 0) return;
          for (const job of jobs) seen.push(job.id);
          expect(await broker.ack(jobs)).toBe(jobs.length);
        }
      };
      // Concurrent claims tag from the same bookkeeping and wait on each other's tenant and clock
      // rows (claim-jobs-sql.ts); SKIP LOCKED must still hand each job to one of them.
      await Promise.all(brokers.flatMap((broker) => Array.from({ length: 6 }, () => leaser(broker))));
      expect(seen).toHaveLength(tenants.length * perTenant);
      expect(new Set(seen).size).toBe(seen.length);
    });

    it('wakes a long poll through NOTIFY from another handle, not its poll interval', {
      timeout: 10_000,
    }, async () => {
      const { schema, brokers } = await handles(1, { pollIntervalMs: 600_000 });
      const producer = await PostgresBroker.open(url!, { schema });
      cleanups.push(() => producer.close());
      const [leaser] = brokers as [PostgresBroker];
      // Once: the first lease promotes due jobs and then claims; after that only a wake-up ends the wait.
      const pending = leaser.lease('q', { max: 5, leaseMs: 60_000, waitMs: 600_000 });
      await new Promise((resolve) => setTimeout(resolve, 200));
      await producer.enqueue('q', { id: 'late', payload: 1 });
      expect((await pending).map((j) => j.id)).toEqual(['late']);
    });

    it('a listening connection cut by the server is opened again: leases wake and broadcasts arrive', {
      timeout: 30_000,
    }, async () => {
      const { schema, brokers } = await handles(2, { pollIntervalMs: 600_000 });
      const [leaser, producer] = brokers as [PostgresBroker, PostgresBroker];
      const received: BroadcastMessage[] = [];
      await leaser.subscribe('c', (m) => received.push(m));
      // Cut every LISTEN connection on this schema's channel, as a server restart would.
      const admin = new pg.Client({ connectionString: url! });
      await admin.connect();
      try {
        const { rows } = await admin.query(
          'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1',
          [`inferq-listen:${notifyChannel(schema)}`],
        );
        expect(rows).toHaveLength(2);
      } finally {
        await admin.end();
      }
      await expect
        .poll(
          async () => {
            await producer.publish('c', { type: 'after-cut' });
            return received.some((m) => m.type === 'after-cut');
          },
          { timeout: 20_000, interval: 200 },
        )
        .toBe(true);
      const pending = leaser.lease('q', { max: 1, leaseMs: 60_000, waitMs: 600_000 });
      await new Promise((resolve) => setTimeout(resolve, 200));
      await producer.enqueue('q', { id: 'woken', payload: 1 });
      expect((await pending).map((j) => j.id)).toEqual(['woken']);
    });

    it('a broadcast too large for a notification arrives whole, in its place among small ones', async () => {
      const { brokers } = await handles(2);
      const [publisher, subscriber] = brokers as [PostgresBroker, PostgresBroker];
      const received: BroadcastMessage[] = [];
      await subscriber.subscribe('events', (m) => received.push(m));
      const ids = Array.from(
        { length: 1_000 },
        (_, i) => `0192f3a4-5b6c-7d8e-9f00-${String(i).padStart(12, '0')}`,
      );
      await publisher.publish('events', { type: 'small', n: 1 });
      await publisher.publish('events', { type: 'large', ids });
      await publisher.publish('events', { type: 'small', n: 2 });
      await expect.poll(() => received.length, { timeout: 10_000 }).toBe(3);
      expect(received.map((m) => m.type)).toEqual(['small', 'large', 'small']);
      expect(received[1]!.ids).toEqual(ids);
    });

    it('keeps its jobs in the same schema as a task store, under its own migration component', async () => {
      const { schema, brokers } = await handles(1);
      const [broker] = brokers as [PostgresBroker];
      await broker.enqueue('q', { id: 'kept', payload: { a: 1 }, delayMs: 600_000 });
      await broker.close();
      const again = await PostgresBroker.open(url!, { schema });
      cleanups.push(() => again.close());
      expect(await again.depth('q')).toMatchObject({ delayed: 1 });
      const admin = new pg.Client({ connectionString: url! });
      await admin.connect();
      try {
        const { rows } = await admin.query(`SELECT component, version FROM ${schema}.inferq_schema`);
        expect(rows).toEqual([{ component: 'queue', version: 1 }]);
      } finally {
        await admin.end();
      }
    });

    it('ends a pending long poll on close and refuses calls afterwards', async () => {
      const { schema, drop } = await freshSchema(url!);
      cleanups.push(drop);
      const broker = await PostgresBroker.open(url!, { schema });
      const pending = broker.lease('q', { max: 1, leaseMs: 1_000, waitMs: 60_000 });
      await new Promise((resolve) => setTimeout(resolve, 50));
      await broker.close();
      expect(await pending).toEqual([]);
      await broker.close();
      const err = await broker.enqueue('q', { payload: 1 }).catch((e: unknown) => e);
      expect(isInferqError(err, 'INFERQ_BROKER_UNAVAILABLE')).toBe(true);
    });

    it('rejects a bad lease request, a payload that is not JSON, and a tenant or weight it cannot keep', async () => {
      const { brokers } = await handles(1);
      const [broker] = brokers as [PostgresBroker];
      for (const request of [
        { max: 0, leaseMs: 1_000 },
        { max: 1_001, leaseMs: 1_000 },
        { max: 1, leaseMs: 0 },
      ]) {
        const err = await broker.lease('q', request).catch((e: unknown) => e);
        expect(isInferqError(err, 'INFERQ_VALIDATION_FAILED'), JSON.stringify(request)).toBe(true);
      }
      for (const job of [
        { payload: { n: 1n } },
        { payload: 0, weight: 0 },
        { payload: 0, weight: Number.NaN },
        { payload: 0, tenant: 'x'.repeat(201) },
      ]) {
        const err = await broker.enqueue('q', job).catch((e: unknown) => e);
        expect(isInferqError(err, 'INFERQ_VALIDATION_FAILED'), String(job.payload)).toBe(true);
      }
      expect(await broker.depth('q')).toMatchObject({ waiting: 0 });
    });

    it('cannot be opened on an unreachable server: INFERQ_BROKER_UNAVAILABLE', {
      timeout: 30_000,
    }, async () => {
      const err = await PostgresBroker.open('postgres://postgres:postgres@127.0.0.1:1/postgres', {
        retryMs: 300,
      }).catch((e: unknown) => e);
      expect(isInferqError(err, 'INFERQ_BROKER_UNAVAILABLE')).toBe(true);
    });
  });
});
