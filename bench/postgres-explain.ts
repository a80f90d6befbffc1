/**
 * bench/postgres-explain: do the PostgreSQL task store's hot reads use indexes at scale? Fills a
 * throwaway schema with 1,000,000 task rows (and the results of the succeeded ones) in SQL, runs the
 * store's own queries — captured from the store as it runs them, not retyped here — for the
 * result-cache lookup, every filter of GET /v1/tasks, cursor pages, the outbox sweep and the
 * store-side requeue, and prints EXPLAIN (ANALYZE, BUFFERS) for each. Exits 1 if any plan has a Seq Scan on `tasks`.
 *
 *   npx tsx bench/postgres-explain.ts [--url postgres://…] [--rows 1000000] [--keep]
 *
 * The URL defaults to TEST_POSTGRES_URL. The schema is dropped at the end unless --keep.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { PostgresTaskStore } from '../src/store/postgres/postgres-task-store.js';
import type { TaskFilter } from '../src/store/task-store.js';

const { values: args } = parseArgs({
  options: {
    url: { type: 'string', default: process.env.TEST_POSTGRES_URL },
    rows: { type: 'string', default: '1000000' },
    keep: { type: 'boolean', default: false },
  },
});
if (args.url === undefined) {
  console.error('no PostgreSQL URL: pass --url or set TEST_POSTGRES_URL');
  process.exit(2);
}
const rows = Number(args.rows);
const schema = `explain_${randomBytes(4).toString('hex')}`;
const base = 1_750_000_000_000;
const owners = 50;
const models = 20;

/** Statements the store sends, captured by wrapping pg's Pool.prototype.query. */
const captured: Array<{ text: string; values: unknown[] }> = [];
let capturing = false;
const query = pg.Pool.prototype.query as (...a: unknown[]) => unknown;
pg.Pool.prototype.query = function (this: pg.Pool, ...a: unknown[]) {
  if (capturing && typeof a[0] === 'string') captured.push({ text: a[0], values: (a[1] as unknown[]) ?? [] });
  return query.apply(this, a);
} as typeof pg.Pool.prototype.query;

const admin = new pg.Client({ connectionString: args.url });
await admin.connect();
const store = await PostgresTaskStore.open(args.url, { schema });
let failed = false;
try {
  const started = Date.now();
  await admin.query(`SET search_path = ${schema}`);
  // Ids sort by creation (as UUIDv7s do); states skew as in a live system: mostly finished.
  // Owners and models are hashed from the row number, so that they do not follow its states.
  await admin.query(
    `INSERT INTO tasks (id, request_id, owner, target_kind, target_name, target_version, input_sha256,
       input_size, input_media_type, params, params_hash, priority, state, attempts, max_attempts,
       cached, created_at, updated_at, finished_at)
     SELECT '01930000-0000-7000-8000-' || lpad(to_hex(i), 12, '0'), 'req-' || (i / 3), 'tenant-' || abs(hashint4(i) % $2),
       'model', 'model-' || abs(hashint4(-i) % $3), 1 + i % 2, md5(i::text) || md5((-i)::text), 1000, 'image/png', '{}',
       'p', 0,
       CASE WHEN i % 100 = 0 THEN 'queued' WHEN i % 100 = 1 THEN 'running' WHEN i % 100 IN (2, 3) THEN 'failed'
            WHEN i % 100 = 4 THEN 'cancelled' ELSE 'succeeded' END,
       1, 3, 0, $4::bigint + i * 10, $4::bigint + i * 10,
       CASE WHEN i % 100 < 2 THEN NULL ELSE $4::bigint + i * 10 + 5 END
     FROM generate_series(1, $1::int) AS i`,
    [rows, owners, models, base],
  );
  await admin.query(
    `INSERT INTO task_results (task_id, result) SELECT id, '{}' FROM tasks WHERE state = 'succeeded'`,
  );
  await admin.query('ANALYZE tasks; ANALYZE task_results');
  console.log(
    `${rows.toLocaleString('en-US')} tasks (and results of the succeeded) in schema ${schema} (${Date.now() - started} ms)\n`,
  );

  const mid = Math.floor(rows / 2);
  const midId = `01930000-0000-7000-8000-${mid.toString(16).padStart(12, '0')}`;
  // The owner of the middle row, so that its request id and input hash filters find it.
  const owner = (await admin.query<{ owner: string }>('SELECT owner FROM tasks WHERE id = $1', [midId]))
    .rows[0]!.owner;
  const listings: Array<[string, TaskFilter, { deep?: boolean }?]> = [
    ['owner', { owner }],
    ['owner, state', { owner, state: 'queued' }],
    ['owner, several states', { owner, state: ['queued', 'running'] }],
    ['owner, target name', { owner, target: 'model-7' }],
    ['owner, target name@version', { owner, target: 'model-7@2' }],
    ['owner, request id', { owner, requestId: `req-${Math.floor(mid / 3)}` }],
    ['owner, input sha256', { owner, inputSha256: await shaOf(mid) }],
    ['owner, created range', { owner, createdFrom: base + mid * 10, createdTo: base + (mid + 50_000) * 10 }],
    ['owner, state, target', { owner, state: 'failed', target: 'model-7' }],
    ['owner, page 2 (cursor)', { owner }, {}],
    ['owner, deep page (cursor at the middle)', { owner }, { deep: true }],
    ['owner, state, deep page', { owner, state: 'succeeded' }, { deep: true }],
    ['outbox sweep (queued, created before, no owner)', { state: 'queued', createdTo: base + mid * 10 }],
  ];

  const plans: Array<{ name: string; text: string; values: unknown[] }> = [];
  capturing = true;
  const mine = await admin.query<{
    owner: string;
    target_name: string;
    target_version: string;
    input_sha256: string;
  }>(
    `SELECT owner, target_name, target_version, input_sha256 FROM tasks
     WHERE id > $1 AND state = 'succeeded' ORDER BY id LIMIT 1`,
    [midId],
  );
  const row = mine.rows[0]!;
  const key = {
    owner: row.owner,
    target: { kind: 'model' as const, name: row.target_name, version: row.target_version },
    inputSha256: row.input_sha256,
    paramsHash: 'p',
  };
  await store.getCachedResult(key);
  plans.push({ name: 'result cache lookup (a hit)', ...captured.pop()! });
  await store.getCachedResult({ ...key, inputSha256: 'f'.repeat(64) });
  plans.push({ name: 'result cache lookup (an input never seen)', ...captured.pop()! });
  for (const [name, filter, page] of listings) {
    if (page === undefined) {
      await store.listTasks(filter, { limit: 50 });
    } else if (page.deep) {
      const { encodeCursor } = await import('../src/store/task-rows.js');
      await store.listTasks(filter, { limit: 50, cursor: encodeCursor(midId, filter) });
    } else {
      capturing = false;
      const first = await store.listTasks(filter, { limit: 50 });
      capturing = true;
      await store.listTasks(filter, { limit: 50, cursor: first.nextCursor! });
    }
    plans.push({ name: `GET /v1/tasks: ${name}`, ...captured.pop()! });
  }
  await store.countTasks({ owner });
  plans.push({ name: 'count by state (owner)', ...captured.pop()! });
  // 1% of the rows are running with no lease expiry (NULL counts as expired): 10,000 at 1M rows.
  await store.listExpiredLeases(base + mid * 10);
  plans.push({ name: 'store-side requeue (running under an expired lease)', ...captured.pop()! });
  capturing = false;

  for (const plan of plans) {
    const json = await admin.query(`EXPLAIN (ANALYZE, FORMAT JSON) ${plan.text}`, plan.values);
    const tree = (json.rows[0] as { 'QUERY PLAN': Array<{ Plan: PlanNode; 'Execution Time': number }> })[
      'QUERY PLAN'
    ][0]!;
    const scans = seqScans(tree.Plan);
    const text = await admin.query(`EXPLAIN (ANALYZE, BUFFERS) ${plan.text}`, plan.values);
    const verdict = scans.length > 0 ? `SEQ SCAN on ${scans.join(', ')}` : 'index only';
    console.log(`== ${plan.name}: ${tree['Execution Time'].toFixed(2)} ms, ${verdict}`);
    console.log(`   ${plan.text.replace(/\s+/g, ' ').slice(0, 400)}`);
    console.log(`   values: ${JSON.stringify(plan.values).slice(0, 200)}`);
    for (const row of text.rows as Array<{ 'QUERY PLAN': string }>) console.log(`   ${row['QUERY PLAN']}`);
    console.log('');
    if (scans.includes('tasks')) failed = true;
  }
  console.log(failed ? 'FAIL: a query scans the tasks table' : 'OK: no Seq Scan on tasks');
} finally {
  await store.close();
  if (!args.keep) await admin.query(`DROP SCHEMA ${schema} CASCADE`);
  await admin.end();
}
process.exit(failed ? 1 : 0);

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  Plans?: PlanNode[];
}

function seqScans(node: PlanNode): string[] {
  const here = node['Node Type'] === 'Seq Scan' ? [node['Relation Name'] ?? '?'] : [];
  return [...here, ...(node.Plans ?? []).flatMap(seqScans)];
}

async function shaOf(i: number): Promise<string> {
  const { rows: r } = await admin.query<{ sha: string }>(
    'SELECT md5($1::text) || md5((-$1::int)::text) AS sha',
    [i],
  );
  return r[0]!.sha;
}
