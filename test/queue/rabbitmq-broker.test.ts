import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { isInferqError } from '../../src/errors/index.js';
import { RabbitMqBroker } from '../../src/queue/rabbitmq/rabbitmq-broker.js';
import { runBrokerContract } from '../contracts/broker.contract.js';
import { eventually } from '../fixtures/eventually.js';

const url = process.env.TEST_AMQP_URL;
const skipReason =
  'TEST_AMQP_URL is unset: RabbitMQ broker tests did NOT run (scripts/test-services.sh starts a server)';

const backoff = { baseMs: 50, maxMs: 200, jitter: 0 };

/** Opens brokers under one fresh prefix and deletes everything any of them declared. */
function prefixedBrokers() {
  const prefix = `inferq-test-${randomBytes(4).toString('hex')}`;
  const handles: RabbitMqBroker[] = [];
  return {
    async open(): Promise<RabbitMqBroker> {
      const broker = await RabbitMqBroker.open(url!, { prefix, backoff });
      handles.push(broker);
      return broker;
    },
    async cleanup(): Promise<void> {
      const queues = new Set(handles.flatMap((h) => h.declaredNames().queues));
      const exchanges = new Set(handles.flatMap((h) => h.declaredNames().exchanges));
      for (const handle of handles) await handle.close();
      const admin = await RabbitMqBroker.open(url!, { prefix });
      await admin.deleteNames({ queues: [...queues], exchanges: [...exchanges] });
      await admin.close();
    },
  };
}

describe.skipIf(url === undefined)(url === undefined ? skipReason : 'RabbitMQ', () => {
  runBrokerContract('RabbitMqBroker', async () => {
    const brokers = prefixedBrokers();
    const broker = await brokers.open();
    return { broker, reopen: () => brokers.open(), cleanup: () => brokers.cleanup() };
  });

  describe('RabbitMqBroker specifics', () => {
    let cleanup: (() => Promise<void>) | undefined;
    afterEach(async () => {
      await cleanup?.();
      cleanup = undefined;
    });

    it('hasLiveJob throws INFERQ_CAPABILITY_UNSUPPORTED', async () => {
      const brokers = prefixedBrokers();
      cleanup = () => brokers.cleanup();
      const broker = await brokers.open();
      const err = await broker.hasLiveJob('q', 'id').catch((e: unknown) => e);
      expect(isInferqError(err, 'INFERQ_CAPABILITY_UNSUPPORTED')).toBe(true);
    });

    it('reconnects after the connection is lost; unacked leases are delivered again', {
      timeout: 15_000,
    }, async () => {
      const brokers = prefixedBrokers();
      cleanup = () => brokers.cleanup();
      const broker = await brokers.open();
      const queue = 'reconnect';
      await broker.enqueue(queue, { id: 'held', payload: 1 });
      const [held] = await broker.lease(queue, { max: 1, leaseMs: 60_000 });
      expect(held?.id).toBe('held');

      // Kill the socket as a network failure or a broker restart would.
      broker.destroySocketForTesting();

      // An operation racing the loss fails (the caller retries); later ones wait for the
      // reconnect. The lost lease is stale and RabbitMQ redelivers its job.
      await eventually(() => broker.enqueue(queue, { id: 'after', payload: 2 }), {
        timeoutMs: 5_000,
        intervalMs: 100,
      });
      const again = await broker.lease(queue, { max: 10, leaseMs: 60_000, waitMs: 5_000 });
      expect(again.map((j) => j.id).sort()).toEqual(['after', 'held']);
      expect(again.find((j) => j.id === 'held')?.attempts).toBe(2);
      expect(await broker.ack([held!])).toBe(0);
      expect(await broker.ack(again)).toBe(2);
    });
  });
});
