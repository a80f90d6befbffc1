import { describe } from 'vitest';
import { PostgresTaskStore } from '../../src/store/postgres/postgres-task-store.js';
import { runTaskStoreContract } from '../contracts/task-store.contract.js';
import { freshSchema, postgresSkipReason, testPostgresUrl } from '../fixtures/pg-schema.js';

describe.skipIf(testPostgresUrl === undefined)(
  testPostgresUrl === undefined ? postgresSkipReason : 'PostgreSQL',
  () => {
    runTaskStoreContract('PostgresTaskStore', async () => {
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
    });
  },
);
