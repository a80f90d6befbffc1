import { randomBytes } from 'node:crypto';
import { expect, type TestContext } from 'vitest';
import type { JobInput } from '../../src/core/job.js';
import type { Broker, BrokerCapabilities } from '../../src/queue/broker.js';

type Contract = (
  title: string,
  needs: readonly (keyof BrokerCapabilities)[],
  body: (ctx: TestContext) => Promise<void>,
) => void;

const longLease = 60_000;

function uniqueQueue(): string {
  return `fair-${randomBytes(6).toString('hex')}`;
}

function jobs(tenant: string, count: number, extra: Partial<JobInput> = {}, from = 0): JobInput[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `${tenant}-${from + i}`,
    payload: i,
    tenant,
    ...extra,
  }));
}

/** Leases batches of `size` until the queue is empty (acking each); the ids in lease order. */
async function drain(broker: Broker, queue: string, size: number, batches = Infinity): Promise<string[][]> {
  const out: string[][] = [];
  while (out.length < batches) {
    const batch = await broker.lease(queue, { max: size, leaseMs: longLease });
    if (batch.length === 0) break;
    await broker.ack(batch);
    out.push(batch.map((j) => j.id));
  }
  return out;
}

/**
 * Fair shares between tenants (capability `fairShares`), part of the broker contract: tenants
 * with backlog take turns by weight, and a priority orders only its own tenant's jobs.
 */
export function defineFairShareContract(contract: Contract, broker: () => Broker): void {
  contract(
    "fair shares: a tenant's single job behind another tenant's 2,000 is leased within the first two batches",
    ['fairShares'],
    async () => {
      const queue = uniqueQueue();
      await broker().enqueueMany(queue, jobs('tenant-a', 2_000));
      await broker().enqueue(queue, { id: 'tenant-b-only', payload: 0, tenant: 'tenant-b' });
      const batches = await drain(broker(), queue, 32, 2);
      expect(batches.flat()).toContain('tenant-b-only');
    },
  );

  contract(
    "fair shares: another tenant's high priority does not jump a tenant's queued job",
    ['fairShares'],
    async () => {
      const queue = uniqueQueue();
      await broker().enqueue(queue, { id: 'tenant-b-only', payload: 0, tenant: 'tenant-b' });
      await broker().enqueueMany(queue, jobs('tenant-a', 200, { priority: 1_000 }));
      const first = await drain(broker(), queue, 1, 2);
      expect(first.flat()).toContain('tenant-b-only');
    },
  );

  contract('fair shares: weights 2:1 give about 2:1 shares of the leases', ['fairShares'], async () => {
    const queue = uniqueQueue();
    await broker().enqueueMany(queue, jobs('heavy', 600, { weight: 2 }));
    await broker().enqueueMany(queue, jobs('light', 600, { weight: 1 }));
    const leased = (await drain(broker(), queue, 30, 10)).flat();
    expect(leased).toHaveLength(300);
    const heavy = leased.filter((id) => id.startsWith('heavy-')).length;
    // 200:100 exactly under weighted fair queuing; allow ±5% of the 300 leases.
    expect(heavy).toBeGreaterThanOrEqual(185);
    expect(heavy).toBeLessThanOrEqual(215);
  });

  contract(
    "fair shares: a tenant's weight given on one queue holds on the broker's others",
    ['fairShares'],
    async () => {
      const first = uniqueQueue();
      const second = uniqueQueue();
      await broker().enqueue(first, { payload: 0, tenant: 'heavy', weight: 3 });
      await broker().enqueueMany(second, jobs('heavy', 400));
      await broker().enqueueMany(second, jobs('light', 400));
      const leased = (await drain(broker(), second, 40, 5)).flat();
      const heavy = leased.filter((id) => id.startsWith('heavy-')).length;
      // 150:50 under weights 3:1.
      expect(heavy).toBeGreaterThanOrEqual(140);
      expect(heavy).toBeLessThanOrEqual(160);
    },
  );

  contract(
    'fair shares: a tenant that was idle rejoins in turn, with no credit for the idle time',
    ['fairShares'],
    async () => {
      const queue = uniqueQueue();
      await broker().enqueue(queue, { id: 'early-0', payload: 0, tenant: 'early' });
      await broker().enqueueMany(queue, jobs('busy', 300));
      // 'early' has its one job served, then nothing queued while 'busy' is leased alone.
      await drain(broker(), queue, 10, 10);
      await broker().enqueueMany(queue, jobs('early', 50, {}, 1));
      const next = (await drain(broker(), queue, 10, 1)).flat();
      // In turn: about half of the next batch each, not all of it for the returning tenant.
      const early = next.filter((id) => id.startsWith('early-')).length;
      expect(early).toBeGreaterThanOrEqual(4);
      expect(early).toBeLessThanOrEqual(6);
    },
  );

  contract("fair shares: a tenant's own priorities still order its jobs", ['fairShares'], async () => {
    const queue = uniqueQueue();
    await broker().enqueueMany(queue, [
      { id: 'a-low-1', payload: 0, tenant: 'a', priority: 1 },
      { id: 'a-high-1', payload: 0, tenant: 'a', priority: 10 },
      { id: 'b-1', payload: 0, tenant: 'b' },
      { id: 'a-none-1', payload: 0, tenant: 'a' },
      { id: 'a-high-2', payload: 0, tenant: 'a', priority: 10 },
      { id: 'b-2', payload: 0, tenant: 'b', priority: 5 },
    ]);
    const leased = (await drain(broker(), queue, 2)).flat();
    expect(leased.filter((id) => id.startsWith('a-'))).toEqual([
      'a-high-1',
      'a-high-2',
      'a-low-1',
      'a-none-1',
    ]);
    expect(leased.filter((id) => id.startsWith('b-'))).toEqual(['b-2', 'b-1']);
    // Turns: neither tenant gets two leases in a row while the other has backlog.
    expect(leased.slice(0, 4).filter((id) => id.startsWith('b-'))).toHaveLength(2);
  });
}
