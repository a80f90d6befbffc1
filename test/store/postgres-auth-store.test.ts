import { describe, expect, it } from 'vitest';
import { PostgresAuthStore } from '../../src/store/postgres/postgres-auth-store.js';
import { runAuthStoreContract } from '../contracts/auth-store.contract.js';
import { freshSchema, postgresSkipReason, testPostgresUrl } from '../fixtures/pg-schema.js';

describe.skipIf(testPostgresUrl === undefined)(
  testPostgresUrl === undefined ? postgresSkipReason : 'PostgreSQL',
  () => {
    runAuthStoreContract('PostgresAuthStore', async () => {
      const { schema, drop } = await freshSchema(testPostgresUrl!);
      const store = await PostgresAuthStore.open(testPostgresUrl!, { schema });
      return {
        store,
        async cleanup() {
          await store.close();
          await drop();
        },
      };
    });

    it('API hosts starting together on one database agree on one signing secret', async () => {
      const { schema, drop } = await freshSchema(testPostgresUrl!);
      const hosts = await Promise.all(
        [1, 2, 3].map(() => PostgresAuthStore.open(testPostgresUrl!, { schema })),
      );
      const secrets = await Promise.all(hosts.map((host, i) => host.signingSecret(() => `host-${i}`)));
      expect(new Set(secrets).size).toBe(1);
      expect(secrets[0]).toMatch(/^host-\d$/);
      await Promise.all(hosts.map((host) => host.close()));
      await drop();
    });

    it('several hosts migrating one schema at once all succeed (advisory lock)', async () => {
      const { schema, drop } = await freshSchema(testPostgresUrl!);
      const stores = await Promise.all(
        Array.from({ length: 4 }, () => PostgresAuthStore.open(testPostgresUrl!, { schema })),
      );
      await stores[0]!.ensureTenant('acme');
      expect((await stores[3]!.listTenants()).map((t) => t.id)).toEqual(['acme']);
      for (const store of stores) await store.close();
      await drop();
    });
  },
);
