import { describe } from 'vitest';
import { PostgresBlobStore } from '../../src/blobs/postgres-blob-store.js';
import { runBlobStoreContract } from '../contracts/blob-store.contract.js';
import { freshSchema, postgresSkipReason, testPostgresUrl } from '../fixtures/pg-schema.js';

describe.skipIf(testPostgresUrl === undefined)(
  testPostgresUrl === undefined ? postgresSkipReason : 'PostgreSQL',
  () => {
    runBlobStoreContract('postgres', async () => {
      const { schema, drop } = await freshSchema(testPostgresUrl!);
      const blobs = await PostgresBlobStore.open(testPostgresUrl!, { schema });
      return {
        blobs,
        async cleanup() {
          await blobs.close();
          await drop();
        },
      };
    });
  },
);
