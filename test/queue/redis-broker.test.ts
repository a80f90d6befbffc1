import { randomBytes } from 'node:crypto';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { RedisBroker } from '../../src/queue/redis/redis-broker.js';
import { runBrokerContract } from '../contracts/broker.contract.js';

const url = process.env.TEST_REDIS_URL;
const skipReason =
  'TEST_REDIS_URL is unset: Redis broker tests did NOT run (scripts/test-services.sh starts a server)';

describe.skipIf(url === undefined)(url === undefined ? skipReason : 'Redis', () => {
  runBrokerContract('RedisBroker', async () => {
    // Each test owns a BullMQ key prefix, deleted after.
    const prefix = `inferq-test-${randomBytes(4).toString('hex')}`;
    const broker = await RedisBroker.open(url!, { prefix, backoff: { baseMs: 50, maxMs: 200, jitter: 0 } });
    return {
      broker,
      reopen: () => RedisBroker.open(url!, { prefix }),
      async cleanup() {
        await broker.close();
        const redis = new Redis(url!);
        const keys = await redis.keys(`${prefix}:*`);
        if (keys.length > 0) await redis.del(...keys);
        await redis.quit();
      },
    };
  });

  describe('prefetch on ack (BullMQ fetchNext)', () => {
    const opened: Array<{ broker: RedisBroker; prefix: string }> = [];
    const open = async (prefix = `inferq-test-${randomBytes(4).toString('hex')}`) => {
      const broker = await RedisBroker.open(url!, { prefix });
      opened.push({ broker, prefix });
      return { broker, prefix };
    };
    afterEach(async () => {
      const redis = new Redis(url!);
      for (const { broker, prefix } of opened.splice(0)) {
        await broker.close();
        const keys = await redis.keys(`${prefix}:*`);
        if (keys.length > 0) await redis.del(...keys);
      }
      await redis.quit();
    });
    const lease = (broker: RedisBroker, max: number) =>
      broker.lease('q', { max, leaseMs: 30_000, waitMs: 0 });

    it('the next lease gets the job an ack fetched, in queue order, each job once', async () => {
      const { broker } = await open();
      await broker.enqueueMany('q', [
        { id: 'a', payload: 0 },
        { id: 'b', payload: 1 },
        { id: 'c', payload: 2 },
      ]);
      const first = await lease(broker, 1);
      expect(first.map((j) => j.id)).toEqual(['a']);
      expect(await broker.ack(first)).toBe(1);
      // The ack fetched 'b' (it is active, locked for this handle), so it is not waiting.
      expect(await broker.depth('q')).toMatchObject({ waiting: 1, leased: 1 });
      const second = await lease(broker, 2);
      expect(second.map((j) => [j.id, j.attempts])).toEqual([
        ['b', 1],
        ['c', 1],
      ]);
      expect(await broker.ack(second)).toBe(2);
      // A second ack of an acked lease is stale, even though its token now holds another job.
      expect(await broker.ack(first)).toBe(0);
    });

    it('jobs fetched but never leased go back to the queue on close, their attempt undone', async () => {
      const { broker, prefix } = await open();
      await broker.enqueueMany('q', [
        { id: 'a', payload: 0 },
        { id: 'b', payload: 1 },
      ]);
      await broker.ack(await lease(broker, 1));
      await broker.close();
      const { broker: other } = await open(prefix);
      const again = await lease(other, 5);
      expect(again.map((j) => [j.id, j.attempts])).toEqual([['b', 1]]);
    });

    it('a lease runs about one fetch script per job it takes, not one per slot of max', async () => {
      const { broker } = await open();
      await broker.enqueueMany('q', [
        { id: 'a', payload: 0 },
        { id: 'b', payload: 1 },
      ]);
      const fetches = vi.spyOn(Worker.prototype, 'getNextJob');
      try {
        expect((await lease(broker, 64)).map((j) => j.id)).toEqual(['a', 'b']);
        // Two jobs, at most one fetch that finds nothing (before: 1 + 63 fetches).
        expect(fetches.mock.calls.length).toBeLessThanOrEqual(3);
        await broker.enqueueMany(
          'q',
          Array.from({ length: 100 }, (_, i) => ({ id: `deep-${i}`, payload: i })),
        );
        fetches.mockClear();
        const full = await lease(broker, 64);
        expect(full.map((j) => j.id)).toEqual(Array.from({ length: 64 }, (_, i) => `deep-${i}`));
        expect(fetches.mock.calls.length).toBe(64);
      } finally {
        fetches.mockRestore();
      }
    });

    it('a job that waited in the prefetch buffer is leased out with its full lease, and keeps it', async () => {
      const { broker, prefix } = await open();
      const leaseMs = 3_000;
      await broker.enqueueMany('q', [
        { id: 'a', payload: 0 },
        { id: 'b', payload: 1 },
      ]);
      await broker.ack(await broker.lease('q', { max: 1, leaseMs, waitMs: 0 }));
      const fetchedAt = Date.now(); // the ack fetched 'b', locking it for leaseMs
      await new Promise((resolve) => setTimeout(resolve, 800)); // within the buffer's hold
      const leasedAt = Date.now();
      const [b] = await broker.lease('q', { max: 1, leaseMs, waitMs: 0 });
      expect(b?.id).toBe('b');
      expect(b!.leaseExpiresAt - leasedAt).toBeGreaterThanOrEqual(leaseMs - 100);
      // Past the lock the fetch set, before the one the lease promised: nothing to reap.
      await new Promise((resolve) =>
        setTimeout(resolve, Math.max(0, fetchedAt + leaseMs + 300 - Date.now())),
      );
      const { broker: reaper } = await open(prefix);
      expect(await reaper.reapExpiredLeases()).toBe(0);
      expect(await broker.ack([b!])).toBe(1);
    });

    it('an idle handle gives its fetched jobs back without a reaper', async () => {
      const { broker, prefix } = await open();
      await broker.enqueueMany('q', [
        { id: 'a', payload: 0 },
        { id: 'b', payload: 1 },
      ]);
      await broker.ack(await lease(broker, 1));
      const { broker: other } = await open(prefix);
      // Nothing for the other handle until the first one lets go (about a second).
      const again = await other.lease('q', { max: 5, leaseMs: 30_000, waitMs: 10_000 });
      expect(again.map((j) => [j.id, j.attempts])).toEqual([['b', 1]]);
    });
  });

  it('an idle lease wakes on the queue marker when a job arrives, not on its poll', async () => {
    const prefix = `inferq-test-${randomBytes(4).toString('hex')}`;
    // A poll interval beyond the test timeout: only the marker can end the wait in time.
    const broker = await RedisBroker.open(url!, { prefix, pollIntervalMs: 60_000 });
    const producer = await RedisBroker.open(url!, { prefix });
    try {
      await broker.enqueue('q', { id: 'warm', payload: 0 }); // creates the queue's keys
      await broker.ack(await broker.lease('q', { max: 1, leaseMs: 30_000 }));
      const waiting = broker.lease('q', { max: 5, leaseMs: 30_000, waitMs: 60_000 });
      await new Promise((resolve) => setTimeout(resolve, 100));
      await producer.enqueue('q', { id: 'late', payload: 1 });
      expect((await waiting).map((j) => j.id)).toEqual(['late']);
    } finally {
      await Promise.all([broker.close(), producer.close()]);
      const redis = new Redis(url!);
      const keys = await redis.keys(`${prefix}:*`);
      if (keys.length > 0) await redis.del(...keys);
      await redis.quit();
    }
  });
  describe('fair shares (one BullMQ queue per tenant, leased by a shared plan)', () => {
    const opened: Array<{ broker: RedisBroker; prefix: string }> = [];
    const open = async (prefix = `inferq-test-${randomBytes(4).toString('hex')}`) => {
      const broker = await RedisBroker.open(url!, { prefix });
      opened.push({ broker, prefix });
      return { broker, prefix };
    };
    afterEach(async () => {
      const redis = new Redis(url!);
      for (const { broker, prefix } of opened.splice(0)) {
        await broker.close();
        const keys = await redis.keys(`${prefix}:*`);
        if (keys.length > 0) await redis.del(...keys);
      }
      await redis.quit();
    });
    const tenantJobs = (tenant: string, count: number) =>
      Array.from({ length: count }, (_, i) => ({ id: `${tenant}-${i}`, payload: i, tenant }));

    it("two handles (two hosts) share one fair order: B's single job behind A's 2,000 comes within two batches", async () => {
      const { broker: first, prefix } = await open();
      const { broker: second } = await open(prefix);
      for (let i = 0; i < 2_000; i += 500) {
        await first.enqueueMany('q', tenantJobs('tenant-a', 2_000).slice(i, i + 500));
      }
      await first.enqueue('q', { id: 'tenant-b-only', payload: 0, tenant: 'tenant-b' });
      const leased: string[] = [];
      for (let turn = 0; turn < 4; turn++) {
        const handle = turn % 2 === 0 ? first : second;
        const jobs = await handle.lease('q', { max: 16, leaseMs: 30_000 });
        leased.push(...jobs.map((j) => j.id));
        await handle.ack(jobs);
      }
      expect(leased.slice(0, 64)).toContain('tenant-b-only');
    });

    it('a job an ack prefetched for one tenant does not take the turn of a tenant that arrived since', async () => {
      const { broker } = await open();
      await broker.enqueueMany('q', tenantJobs('tenant-a', 100));
      // A alone: acks prefetch A's next jobs (up to two leases' worth) for the next lease.
      await broker.ack(await broker.lease('q', { max: 10, leaseMs: 30_000 }));
      await broker.enqueue('q', { id: 'tenant-b-only', payload: 0, tenant: 'tenant-b' });
      const next = await broker.lease('q', { max: 10, leaseMs: 30_000 });
      expect(next.map((j) => j.id)).toContain('tenant-b-only');
      expect(next).toHaveLength(10);
      await broker.ack(next);
      // Nothing lost or leased twice: A's 90 left come next, each once.
      const rest: string[] = [];
      for (let jobs = await broker.lease('q', { max: 50, leaseMs: 30_000 }); jobs.length > 0; ) {
        rest.push(...jobs.map((j) => j.id));
        await broker.ack(jobs);
        jobs = await broker.lease('q', { max: 50, leaseMs: 30_000 });
      }
      expect(new Set([...next.map((j) => j.id), ...rest]).size).toBe(91);
      expect(rest).toHaveLength(81);
    });

    it('three handles leasing at once from five tenants get every job exactly once', async () => {
      const { broker: first, prefix } = await open();
      const others = [await open(prefix), await open(prefix)].map((o) => o.broker);
      const handles = [first, ...others];
      // Small backlogs, so that plans made at the same moment often plan a tenant's last jobs.
      for (let t = 0; t < 5; t++) await first.enqueueMany('q', tenantJobs(`t${t}`, 20 + 7 * t));
      const total = [0, 1, 2, 3, 4].reduce((sum, t) => sum + 20 + 7 * t, 0);
      const leased = await Promise.all(
        handles.map(async (handle) => {
          const ids: string[] = [];
          for (let idle = 0; idle < 3; ) {
            const jobs = await handle.lease('q', { max: 7, leaseMs: 30_000 });
            if (jobs.length === 0) idle++;
            ids.push(...jobs.map((j) => j.id));
            expect(await handle.ack(jobs)).toBe(jobs.length);
          }
          return ids;
        }),
      );
      const all = leased.flat();
      expect(all).toHaveLength(total);
      expect(new Set(all).size).toBe(total);
      expect(await first.depth('q')).toEqual({ waiting: 0, delayed: 0, leased: 0, dead: 0 });
    });

    it('a tenant whose jobs are all done leaves no keys once a lease finds its queue empty, and is served when it comes back', async () => {
      const { broker, prefix } = await open();
      const redis = new Redis(url!);
      try {
        const tenantKeys = () => redis.keys(`${prefix}:q%7Calice:*`);
        await broker.enqueueMany('q', tenantJobs('alice', 3));
        await broker.ack(await broker.lease('q', { max: 10, leaseMs: 30_000 }));
        expect(await broker.lease('q', { max: 10, leaseMs: 30_000 })).toEqual([]);
        expect(await tenantKeys()).toEqual([]);
        expect(await redis.hkeys(`${prefix}:inferq:tenants:q`)).toEqual([]);
        await broker.enqueue('q', { id: 'again', payload: 0, tenant: 'alice' });
        expect((await broker.lease('q', { max: 10, leaseMs: 30_000 })).map((j) => j.id)).toEqual(['again']);
      } finally {
        await redis.quit();
      }
    });

    it('counts, dead letters, live lookups and the reaper cover every tenant queue', async () => {
      const { broker } = await open();
      await broker.enqueueMany('q', [
        { id: 'plain', payload: 0 },
        { id: 'x-1', payload: 1, tenant: 'x' },
        { id: 'y-1', payload: 2, tenant: 'y:with|odd chars', maxAttempts: 1 },
        { id: 'y-2', payload: 3, tenant: 'y:with|odd chars', delayMs: 600_000 },
      ]);
      expect(await broker.depth('q')).toEqual({ waiting: 3, delayed: 1, leased: 0, dead: 0 });
      expect(await broker.hasLiveJob('q', 'y-2')).toBe(true);
      const leased = await broker.lease('q', { max: 3, leaseMs: 100 });
      expect(leased.map((j) => j.id).sort()).toEqual(['plain', 'x-1', 'y-1']);
      await new Promise((resolve) => setTimeout(resolve, 200));
      // Expired in three tenant queues: two back to wait, y-1 (one attempt) dead.
      expect(await broker.reapExpiredLeases()).toBe(3);
      expect(await broker.depth('q')).toEqual({ waiting: 2, delayed: 1, leased: 0, dead: 1 });
      expect((await broker.deadJobs('q')).map((d) => d.id)).toEqual(['y-1']);
      expect(await broker.requeueDead('q', 'y-1')).toBe(true);
      const again = await broker.lease('q', { max: 5, leaseMs: 30_000 });
      expect(again.map((j) => j.id).sort()).toEqual(['plain', 'x-1', 'y-1']);
      expect(await broker.extendLeases(again, 60_000)).toHaveLength(3);
      expect(await broker.ack(again)).toBe(3);
      expect(await broker.hasLiveJob('q', 'x-1')).toBe(false);
    });

    it('opens no Redis connection per tenant queue (its workers share the broker connection)', async () => {
      const { broker, prefix } = await open();
      const redis = new Redis(url!);
      try {
        const named = async () =>
          ((await redis.client('LIST')) as string)
            .split('\n')
            .filter((line) => line.includes(` name=${prefix}:`)).length;
        for (let t = 0; t < 8; t++) await broker.enqueue('q', { payload: t, tenant: `t${t}` });
        await broker.enqueue('other', { payload: 0 });
        await broker.ack(await broker.lease('q', { max: 8, leaseMs: 30_000 }));
        await broker.ack(await broker.lease('other', { max: 8, leaseMs: 30_000 }));
        await new Promise((resolve) => setTimeout(resolve, 200));
        expect(await named()).toBe(0);
      } finally {
        await redis.quit();
      }
    });
  });
});
