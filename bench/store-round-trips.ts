/**
 * bench/store-round-trips: what one batch costs the task store's hot path. For batches of
 * `--batch` tasks (default 32) it claims the batch and settles it (all succeeded, the worker's
 * common case) two ways, interleaved batch by batch on the same database:
 * - `per-item`: the shape of the code before the shared SQL state machine — one transaction per
 *   batch, each item's claim and settle run as its own statements (here: store/sql's programs
 *   run once per item, which send the very statements the old per-item code sent: 4 per claim,
 *   3 per settle);
 * - `set`: the stores' claimTasks / settleTasks, set-based (store/sql/claim-tasks.ts,
 *   settle-tasks.ts): a fixed few statements whatever the batch's size.
 * It prints PostgreSQL round trips per batch, counted by wrapping pg's `Client.prototype.query`
 * (every pool query and every statement of a transaction, BEGIN and COMMIT included, goes
 * through it once), and the median / p90 latency of claim + settle per batch on PostgreSQL and on
 * SQLite (a file in a temp dir), with the ratio per-item / set.
 *
 *   TEST_POSTGRES_URL=postgres://… npx tsx bench/store-round-trips.ts [--batch 32] [--batches 200]
 *
 * Before and after, the same public-API loop (what `set` mode runs: createTasks, then
 * claimTasks + settleTasks of the 32) run on the base commit 2523e53 (per-item statements) and
 * on this code, alternately twice, batch 32, 200 batches, on the shared 2-core dev host (load
 * 1.5–2.5), PostgreSQL 16 on localhost:
 *   PostgreSQL round trips per batch: 228 (claim 130, settle 98) → 11 (claim 6, settle 5)
 *   PostgreSQL claim+settle per batch, median: 38.6 / 39.1 ms → 6.0 / 5.8 ms (6.6x)
 *   SQLite     claim+settle per batch, median: 1.00 / 0.97 ms → 1.21 / 1.30 ms (0.78x: packing
 *     the batch into JSON for json_each costs SQLite, which has no round trips to save, about
 *     9 µs a task more than its per-item prepared statements did)
 * (The base has no store/sql/, so that run used a copy of `set` mode alone; `per-item` mode here
 * approximates the old shape over the new statements, and overstates SQLite's old cost.)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import type { NewTask } from '../src/core/task.js';
import { openPgPool } from '../src/postgres/open-pg-pool.js';
import { openSqlite } from '../src/sqlite/open-sqlite.js';
import { PgSqlDriver } from '../src/store/postgres/pg-sql-driver.js';
import { PostgresTaskStore } from '../src/store/postgres/postgres-task-store.js';
import { claimTasks } from '../src/store/sql/claim-tasks.js';
import { settleTasks } from '../src/store/sql/settle-tasks.js';
import type { SqlDriver } from '../src/store/sql/sql-driver.js';
import { taskStoreMigrations } from '../src/store/sqlite/migrations.js';
import { SqliteSqlDriver } from '../src/store/sqlite/sqlite-sql-driver.js';
import { SqliteTaskStore } from '../src/store/sqlite/sqlite-task-store.js';
import type { BatchClaim, Settlement, TaskStore } from '../src/store/task-store.js';

const { values: args } = parseArgs({
  options: {
    url: { type: 'string', default: process.env.TEST_POSTGRES_URL },
    batch: { type: 'string', default: '32' },
    batches: { type: 'string', default: '200' },
  },
});
const batchSize = Number(args.batch);
const batches = Number(args.batches);

let queries = 0;
const query = pg.Client.prototype.query as (...a: unknown[]) => unknown;
pg.Client.prototype.query = function (this: pg.Client, ...a: unknown[]) {
  queries += 1;
  return query.apply(this, a);
} as typeof pg.Client.prototype.query;

let drafted = 0;
function draft(): NewTask {
  drafted += 1;
  return {
    requestId: `req-${drafted}`,
    owner: 'bench',
    target: { kind: 'model', name: 'echo', version: '1' },
    input: { sha256: `${drafted}`.padStart(64, '0'), size: 10, mediaType: 'application/octet-stream' },
    maxAttempts: 3,
  };
}

type Mode = 'per-item' | 'set';
interface Figures {
  claimTrips: number;
  settleTrips: number;
  latencies: number[];
}

/** One batch claimed and settled in `mode`; adds its figures. */
async function batch(store: TaskStore, driver: SqlDriver, mode: Mode, figures: Figures, b: number) {
  const tasks = await store.createTasks(Array.from({ length: batchSize }, draft));
  const token = `lease-${mode}-${b}`;
  const claims: BatchClaim[] = tasks.map((t) => ({ id: t.id, leaseToken: token, workerId: 'w' }));
  const settlements: Settlement[] = tasks.map((t) => ({
    id: t.id,
    outcome: 'succeeded',
    leaseToken: token,
    result: { text: 'x'.repeat(200) },
    timing: { computeMs: 1 },
  }));
  const d = driver.dialect;
  const started = performance.now();
  const before = queries;
  const claimed =
    mode === 'set'
      ? await store.claimTasks(claims)
      : await driver.tx(function* () {
          const results = [];
          for (const claim of claims) results.push(...(yield* claimTasks(d, [claim])()));
          return results;
        });
  const between = queries;
  const written =
    mode === 'set'
      ? await store.settleTasks(settlements)
      : await driver.tx(function* () {
          const results = [];
          for (const s of settlements) results.push(...(yield* settleTasks(d, [s])()));
          return results;
        });
  figures.latencies.push(performance.now() - started);
  figures.claimTrips = between - before;
  figures.settleTrips = queries - between;
  if (!claimed.every((c) => c.claimed) || !written.every(Boolean))
    throw new Error('a claim or settle failed');
}

async function run(name: string, store: TaskStore, driver: SqlDriver): Promise<void> {
  const figures: Record<Mode, Figures> = {
    'per-item': { claimTrips: 0, settleTrips: 0, latencies: [] },
    set: { claimTrips: 0, settleTrips: 0, latencies: [] },
  };
  for (let b = 0; b < batches; b++) {
    for (const mode of b % 2 === 0 ? (['per-item', 'set'] as const) : (['set', 'per-item'] as const)) {
      await batch(store, driver, mode, figures[mode], b);
    }
  }
  for (const mode of ['per-item', 'set'] as const) {
    const f = figures[mode];
    const trips =
      name === 'postgres'
        ? `round trips: claim ${f.claimTrips}, settle ${f.settleTrips}, total ${f.claimTrips + f.settleTrips}; `
        : '';
    console.log(
      `${name.padEnd(8)} ${mode.padEnd(8)} ${trips}claim+settle per batch: median ${quantile(f.latencies, 0.5).toFixed(2)} ms, p90 ${quantile(f.latencies, 0.9).toFixed(2)} ms`,
    );
  }
  const ratio = quantile(figures['per-item'].latencies, 0.5) / quantile(figures.set.latencies, 0.5);
  console.log(`${name.padEnd(8)} per-item / set median latency: ${ratio.toFixed(2)}x`);
}

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

console.log(`batch ${batchSize}, ${batches} batches per mode, interleaved`);
const dir = mkdtempSync(join(tmpdir(), 'inferq-round-trips-'));
try {
  const file = join(dir, 'inferq.db');
  const sqlite = SqliteTaskStore.open(file);
  const db = openSqlite(file, { purpose: 'task store', migrations: taskStoreMigrations });
  try {
    await run('sqlite', sqlite, new SqliteSqlDriver(() => db));
  } finally {
    db.close();
    await sqlite.close();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

if (args.url === undefined) console.log('postgres: skipped (no --url / TEST_POSTGRES_URL)');
else {
  const schema = `trips_${process.pid}`;
  const store = await PostgresTaskStore.open(args.url, { schema });
  const handle = openPgPool(args.url, { purpose: 'bench', max: 2, schema });
  try {
    await run('postgres', store, new PgSqlDriver(() => handle.pool));
  } finally {
    await handle.pool.end();
    await store.close();
    const admin = new pg.Client({ connectionString: args.url });
    await admin.connect();
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.end();
  }
}
