import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { describe } from 'vitest';
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
});
