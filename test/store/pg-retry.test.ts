import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inTransaction, openPgPool, type PgHandle } from '../../src/postgres/open-pg-pool.js';
import { isPgConnectionError } from '../../src/postgres/pg-retry.js';
import { freshSchema, postgresSkipReason, testPostgresUrl } from '../fixtures/pg-schema.js';

describe('isPgConnectionError', () => {
  it('tells a lost or refused connection from an error of the statement', () => {
    for (const err of [
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }),
      Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }),
      Object.assign(new Error('the database system is starting up'), { code: '57P03' }),
      Object.assign(new Error('connection failure'), { code: '08006' }),
      new Error('Connection terminated unexpectedly'),
      new Error('timeout exceeded when trying to connect'),
    ]) {
      expect(isPgConnectionError(err), err.message).toBe(true);
    }
    for (const err of [
      Object.assign(new Error('duplicate key'), { code: '23505' }),
      Object.assign(new Error('division by zero'), { code: '22012' }),
      new Error('something else'),
      undefined,
      'text',
    ]) {
      expect(isPgConnectionError(err), String(err)).toBe(false);
    }
  });
});

describe.skipIf(!testPostgresUrl)(
  testPostgresUrl ? 'inTransaction on PostgreSQL' : postgresSkipReason,
  () => {
    let handle: PgHandle;
    let drop: () => Promise<void>;

    beforeAll(async () => {
      const fresh = await freshSchema(testPostgresUrl!);
      drop = fresh.drop;
      handle = openPgPool(testPostgresUrl!, {
        purpose: 'test',
        schema: fresh.schema,
        max: 2,
        retryMs: 5_000,
      });
      await handle.pool.query(`CREATE SCHEMA ${fresh.schema}`);
      await handle.pool.query('CREATE TABLE rows (n INTEGER NOT NULL)');
    });

    afterAll(async () => {
      await handle?.pool.end();
      await drop?.();
    });

    it('runs a transaction again when its connection is killed before COMMIT; the first run left nothing', async () => {
      let runs = 0;
      const result = await inTransaction(handle.pool, async (client) => {
        runs++;
        await client.query('INSERT INTO rows (n) VALUES ($1)', [runs]);
        // The server ends this very connection, as a restart would.
        if (runs === 1) await client.query('SELECT pg_terminate_backend(pg_backend_pid())');
        return runs;
      });
      expect(result).toBe(2);
      const { rows } = await handle.pool.query<{ n: number }>('SELECT n FROM rows');
      expect(rows).toEqual([{ n: 2 }]);
    });

    it('survives its connection being killed between two statements (no unhandled error), and runs again', async () => {
      const killer = openPgPool(testPostgresUrl!, { purpose: 'test', max: 1 });
      let runs = 0;
      const result = await inTransaction(handle.pool, async (client) => {
        runs++;
        const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
        if (runs === 1) {
          // Killed from outside while this client sits idle in its transaction, as a restart does.
          await killer.pool.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
        await client.query('INSERT INTO rows (n) VALUES ($1)', [10 + runs]);
        return runs;
      });
      await killer.pool.end();
      expect(result).toBe(2);
      const { rows } = await handle.pool.query<{ n: number }>('SELECT n FROM rows WHERE n >= 10');
      expect(rows).toEqual([{ n: 12 }]);
    });

    it('does not run a transaction again for an error of its own', async () => {
      let runs = 0;
      const err = await inTransaction(handle.pool, async (client) => {
        runs++;
        await client.query('SELECT 1 / 0');
      }).catch((e: unknown) => e);
      expect((err as { code?: string }).code).toBe('22012');
      expect(runs).toBe(1);
    });

    it('gives up after retryMs when the server stays unreachable', async () => {
      const unreachable = new URL(testPostgresUrl!);
      unreachable.port = '1';
      const dead = openPgPool(unreachable.toString(), { purpose: 'test', retryMs: 300 });
      let runs = 0;
      const err = await inTransaction(dead.pool, async () => {
        runs++;
      }).catch((e: unknown) => e);
      await dead.pool.end();
      expect(isPgConnectionError(err)).toBe(true);
      expect(runs).toBe(0);
    });
  },
);
