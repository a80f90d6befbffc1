import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { LeasedJob } from '../../src/core/job.js';
import type { Broker } from '../../src/queue/broker.js';
import { RabbitMqBroker, type RabbitMqBrokerOptions } from '../../src/queue/rabbitmq/rabbitmq-broker.js';

/**
 * RabbitMqBroker leases through a prefetching consumer: messages delivered to one instance but
 * not leased yet wait in its buffer, unseen by other workers. These tests pin what happens to
 * them: they go back on close and when the consumer is idle, without costing an attempt.
 */

const url = process.env.TEST_AMQP_URL;
const skipReason =
  'TEST_AMQP_URL is unset: RabbitMQ prefetch tests did NOT run (scripts/test-services.sh starts a server)';

describe.skipIf(url === undefined)(url === undefined ? skipReason : 'RabbitMqBroker prefetch buffer', () => {
  const prefix = `inferq-test-${randomBytes(4).toString('hex')}`;
  let handles: RabbitMqBroker[] = [];
  const open = async (options: RabbitMqBrokerOptions = {}): Promise<RabbitMqBroker> => {
    const broker = await RabbitMqBroker.open(url!, { prefix, ...options });
    handles.push(broker);
    return broker;
  };

  afterEach(async () => {
    const queues = new Set(handles.flatMap((h) => h.declaredNames().queues));
    const exchanges = new Set(handles.flatMap((h) => h.declaredNames().exchanges));
    for (const handle of handles) await handle.close();
    handles = [];
    const admin = await RabbitMqBroker.open(url!, { prefix });
    await admin.deleteNames({ queues: [...queues], exchanges: [...exchanges] });
    await admin.close();
  });

  /** Leases until `count` jobs came, waiting for deliveries up to 20 s in all. */
  async function leaseAll(broker: Broker, queue: string, count: number): Promise<LeasedJob[]> {
    const jobs: LeasedJob[] = [];
    const deadline = Date.now() + 20_000;
    while (jobs.length < count && Date.now() < deadline) {
      jobs.push(...(await broker.lease(queue, { max: 10, leaseMs: 60_000, waitMs: 1_000 })));
    }
    return jobs;
  }

  it('buffered messages go back on close without an attempt; the unacked lease counts one', async () => {
    const queue = 'close';
    const first = await open({ prefetch: 10, consumerIdleMs: 600_000 });
    const ids = await first.enqueueMany(
      queue,
      Array.from({ length: 5 }, (_, n) => ({ payload: n })),
    );
    const [held] = await first.lease(queue, { max: 1, leaseMs: 60_000 });
    expect(held?.id).toBe(ids[0]);

    // The other four sit in the first handle's buffer: a second handle finds nothing ready.
    const second = await open();
    expect(await second.lease(queue, { max: 10, leaseMs: 60_000 })).toEqual([]);
    expect(await first.depth(queue)).toMatchObject({ waiting: 4, leased: 1 });

    await first.close();
    const jobs = await leaseAll(second, queue, 5);
    expect(jobs.map((j) => j.id).sort()).toEqual([...ids].sort());
    for (const job of jobs) expect(job.attempts, job.id).toBe(job.id === held!.id ? 2 : 1);
    expect(await second.ack(jobs)).toBe(5);
  });

  it("an idle consumer's buffer goes back to the queue for other workers, attempts unchanged", async () => {
    const queue = 'idle';
    const hoarder = await open({ prefetch: 10, consumerIdleMs: 200 });
    const ids = await hoarder.enqueueMany(
      queue,
      Array.from({ length: 4 }, (_, n) => ({ payload: n })),
    );
    const [held] = await hoarder.lease(queue, { max: 1, leaseMs: 60_000 });
    expect(held?.id).toBe(ids[0]);

    // The hoarder leases no more; once its consumer is idle, another worker gets the rest.
    const other = await open();
    const jobs = await leaseAll(other, queue, 3);
    expect(jobs.map((j) => [j.id, j.attempts]).sort()).toEqual(
      ids
        .slice(1)
        .map((id) => [id, 1])
        .sort(),
    );
    expect(await other.ack(jobs)).toBe(3);
    // The hoarder's lease is untouched by the cancel.
    expect(await hoarder.ack([held!])).toBe(1);
    expect(await other.depth(queue)).toEqual({ waiting: 0, delayed: 0, leased: 0, dead: 0 });
  });

  it('a window full of leases still leases what is ready, oldest first', async () => {
    const queue = 'full';
    const broker = await open({ prefetch: 2 });
    const ids = await broker.enqueueMany(
      queue,
      Array.from({ length: 5 }, (_, n) => ({ payload: n })),
    );
    const a = await broker.lease(queue, { max: 1, leaseMs: 60_000 });
    const b = await broker.lease(queue, { max: 1, leaseMs: 60_000 });
    // Two leases fill the window of 2: the rest can only come by basic.get.
    const rest = await broker.lease(queue, { max: 10, leaseMs: 60_000, waitMs: 5_000 });
    expect([...a, ...b, ...rest].map((j) => j.id)).toEqual(ids);
    expect(await broker.ack([...a, ...b, ...rest])).toBe(5);
  });
});
