import { describe } from 'vitest';
import { PostgresTaskStore } from '../../src/store/postgres/postgres-task-store.js';
import { runFeedbackContract } from '../contracts/feedback.contract.js';
import { runIdempotencyKeysContract } from '../contracts/idempotency-keys.contract.js';
import { runTaskStatsContract } from '../contracts/task-stats.contract.js';
import { runTaskStoreContract } from '../contracts/task-store.contract.js';
import { runWebhookDeliveriesContract } from '../contracts/webhook-deliveries.contract.js';
import { freshSchema, postgresSkipReason, testPostgresUrl } from '../fixtures/pg-schema.js';

describe.skipIf(testPostgresUrl === undefined)(
  testPostgresUrl === undefined ? postgresSkipReason : 'PostgreSQL',
  () => {
    /** A fresh store in a schema of its own; the same database plays every role's suite. */
    const openStore = async () => {
      const url = testPostgresUrl!;
      const { schema, drop } = await freshSchema(url);
      const store = await PostgresTaskStore.open(url, { schema });
      return {
        store,
        async cleanup() {
          await store.close();
          await drop();
        },
      };
    };
    runTaskStoreContract('PostgresTaskStore', openStore);
    runWebhookDeliveriesContract('PostgresTaskStore', openStore);
    runIdempotencyKeysContract('PostgresTaskStore', openStore);
    runFeedbackContract('PostgresTaskStore', openStore);
    runTaskStatsContract('PostgresTaskStore', openStore);
  },
);
