import { describe } from 'vitest';
import { PostgresWorkerRegistry } from '../../src/store/postgres/postgres-worker-registry.js';
import { runWorkerRegistryContract } from '../contracts/worker-registry.contract.js';
import { freshSchema, postgresSkipReason, testPostgresUrl } from '../fixtures/pg-schema.js';

describe.skipIf(testPostgresUrl === undefined)(
  testPostgresUrl === undefined ? postgresSkipReason : 'PostgreSQL',
  () => {
    runWorkerRegistryContract('PostgresWorkerRegistry', async () => {
      const { schema, drop } = await freshSchema(testPostgresUrl!);
      const registry = await PostgresWorkerRegistry.open(testPostgresUrl!, { schema });
      return {
        registry,
        open: () => PostgresWorkerRegistry.open(testPostgresUrl!, { schema }),
        async cleanup() {
          await registry.close();
          await drop();
        },
      };
    });
  },
);
