import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { sha256Hex } from '../../src/core/hash.js';
import { newLeaseToken } from '../../src/core/ids.js';
import { PostgresTaskStore } from '../../src/store/postgres/postgres-task-store.js';
import { pgTaskStoreMigrations } from '../../src/store/postgres/task-migrations.js';
import { freshSchema, postgresSkipReason, testPostgresUrl } from '../fixtures/pg-schema.js';

const draft = (i: number) => ({
  requestId: 'req',
  owner: 'alice',
  target: { kind: 'model' as const, name: 'resnet', version: '1' },
  input: { sha256: sha256Hex(`input-${i}`), size: 1, mediaType: 'image/png' },
});

describe.skipIf(testPostgresUrl === undefined)(
  testPostgresUrl === undefined ? postgresSkipReason : 'PostgresTaskStore (PostgreSQL specifics)',
  () => {
    it('migrates concurrently from several hosts and records the version', async () => {
      const { schema, drop } = await freshSchema(testPostgresUrl!);
      const stores = await Promise.all(
        Array.from({ length: 4 }, () => PostgresTaskStore.open(testPostgresUrl!, { schema })),
      );
      const client = new pg.Client({ connectionString: testPostgresUrl! });
      await client.connect();
      const { rows } = await client.query(`SELECT component, version FROM ${schema}.inferq_schema`);
      await client.end();
      expect(rows).toEqual([{ component: 'tasks', version: pgTaskStoreMigrations.length }]);
      for (const store of stores) await store.close();
      await drop();
    });

    it('migrates running tasks to a lease of 30 s from their last update', async () => {
      const { schema, drop } = await freshSchema(testPostgresUrl!);
      const first = await PostgresTaskStore.open(testPostgresUrl!, { schema });
      const [stale, fresh] = await first.createTasks([draft(1), draft(2)]);
      for (const task of [stale!, fresh!]) {
        await first.claimTask(task.id, { leaseToken: newLeaseToken(), workerId: 'old-worker' });
      }
      await first.close();
      // The schema as the previous version left it: running rows, no lease expiry.
      const now = Date.now();
      const client = new pg.Client({ connectionString: testPostgresUrl! });
      await client.connect();
      await client.query(`ALTER TABLE ${schema}.tasks DROP COLUMN lease_expires_at`);
      await client.query(
        `UPDATE ${schema}.inferq_schema SET version = version - 1 WHERE component = 'tasks'`,
      );
      await client.query(`UPDATE ${schema}.tasks SET updated_at = $1 WHERE id = $2`, [
        now - 60_000,
        stale!.id,
      ]);
      await client.query(`UPDATE ${schema}.tasks SET updated_at = $1 WHERE id = $2`, [now, fresh!.id]);
      await client.end();

      const second = await PostgresTaskStore.open(testPostgresUrl!, { schema });
      const at = now + 1;
      const takeOver = await second.claimTask(stale!.id, { leaseToken: newLeaseToken(), workerId: 'w', at });
      expect(takeOver).toMatchObject({ claimed: true, task: { attempts: 2, workerId: 'w' } });
      const held = await second.claimTask(fresh!.id, { leaseToken: newLeaseToken(), workerId: 'w', at });
      expect(held).toMatchObject({ claimed: false, heldUntil: now + 30_000 });
      await second.close();
      await drop();
    });

    it('hosts polling webhooks together claim disjoint deliveries, each due one exactly once', async () => {
      const { schema, drop } = await freshSchema(testPostgresUrl!);
      const hosts = await Promise.all(
        Array.from({ length: 4 }, () => PostgresTaskStore.open(testPostgresUrl!, { schema })),
      );
      const created = await hosts[0]!.createTasks(
        Array.from({ length: 40 }, (_, i) => ({
          ...draft(100 + i),
          callbackUrl: 'https://example.com/hook',
          cachedResult: { result: i },
        })),
      );
      const now = Date.now();
      const rounds = await Promise.all(
        hosts.flatMap((host) => [1, 2, 3].map(() => host.dueWebhooks(now, 7, 60_000))),
      );
      const claimed = rounds.flat().map((t) => t.id);
      expect(claimed.sort()).toEqual(created.map((t) => t.id).sort());
      for (const host of hosts) await host.close();
      await drop();
    });

    it('lets exactly one of many concurrent claimers win a task', async () => {
      const { schema, drop } = await freshSchema(testPostgresUrl!);
      const store = await PostgresTaskStore.open(testPostgresUrl!, { schema });
      const [task] = await store.createTasks([draft(1)]);
      const claims = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          store.claimTask(task!.id, { leaseToken: newLeaseToken(), workerId: `w${i}` }),
        ),
      );
      // Each later claimer takes over as if the lease expired, fenced on the previous token:
      // attempts count every claim, and exactly the last token may complete.
      const stored = await store.getTask(task!.id);
      expect(claims.filter((c) => c.claimed)).toHaveLength(stored!.attempts);
      expect(stored!.timeline.filter((e) => e.stage === 'running')).toHaveLength(stored!.attempts);
      await store.close();
      await drop();
    });

    it('reads listings and cache hits off indexes (EXPLAIN)', async () => {
      const { schema, drop } = await freshSchema(testPostgresUrl!);
      const store = await PostgresTaskStore.open(testPostgresUrl!, { schema });
      await store.createTasks(
        Array.from({ length: 2000 }, (_, i) => ({ ...draft(i), owner: `o${i % 100}` })),
      );
      const client = new pg.Client({
        connectionString: testPostgresUrl!,
        options: `-c search_path=${schema}`,
      });
      await client.connect();
      await client.query('ANALYZE');
      await client.query('SET enable_seqscan = off');
      const plan = async (sql: string) =>
        (await client.query(`EXPLAIN ${sql}`)).rows
          .map((r: Record<string, string>) => r['QUERY PLAN'])
          .join('\n');
      expect(await plan(`SELECT id FROM tasks WHERE owner = 'o7' ORDER BY id DESC LIMIT 51`)).toMatch(
        /Index Scan (Backward )?using tasks_owner|Bitmap Index Scan on tasks_owner/,
      );
      // The store's own cache lookup, captured as it is sent, walks the input hash index.
      const sent: Array<{ text: string; values: unknown[] }> = [];
      const query = pg.Pool.prototype.query as (...a: unknown[]) => unknown;
      pg.Pool.prototype.query = function (this: pg.Pool, ...a: unknown[]) {
        if (typeof a[0] === 'string') sent.push({ text: a[0], values: (a[1] as unknown[]) ?? [] });
        return query.apply(this, a);
      } as typeof pg.Pool.prototype.query;
      try {
        await store.getCachedResult({
          owner: 'o7',
          target: { kind: 'model', name: 'resnet', version: '1' },
          inputSha256: sha256Hex('input-7'),
          paramsHash: 'p',
        });
      } finally {
        pg.Pool.prototype.query = query as typeof pg.Pool.prototype.query;
      }
      const lookup = sent.at(-1)!;
      expect(lookup.text).toContain('input_sha256');
      const cachePlan = (await client.query(`EXPLAIN ${lookup.text}`, lookup.values)).rows
        .map((r: Record<string, string>) => r['QUERY PLAN'])
        .join('\n');
      // Newest first and no further than the window (cacheLookupWindow).
      expect(cachePlan).toMatch(/Limit[^\n]*\n\s*-> {2}Index Scan Backward using tasks_input_owner_id/);
      await client.end();
      await store.close();
      await drop();
    });
  },
);
