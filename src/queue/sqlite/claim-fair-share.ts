import type Database from 'better-sqlite3';
import type { SqliteDatabase } from '../../sqlite/open-sqlite.js';
import { leaseOrderSql, startTagSql } from '../fair-share-tags.js';
import type { ClaimedJobRow } from '../job-rows.js';

/** The start tag rule (../fair-share-tags.ts, shared with the PostgreSQL broker) in this claim's terms. */
const startTag = startTagSql('sqlite', {
  lastStart: 't.last_start',
  weight: 'w.weight',
  clock: 'clock.v',
  tenant: 'a.tenant',
  priority: 'j.priority',
  seq: 'j.seq',
});

/**
 * Fair shares between tenants in the embedded queue: weighted fair queuing by start-time tags
 * (SFQ, Goyal et al. 1996), in SQL. The tag rule is written once, in ../fair-share-tags.ts.
 *
 * `tenant_weights` holds each tenant's weight (every queue; default 1); `queue_tenants` holds,
 * per queue, each served tenant's `last_start`, the start tag of its last leased job there;
 * `queue_clocks` holds the queue's clock `V`, the largest start tag leased so far. A claim gives
 * the k-th waiting job of tenant t (k = 1, 2, … in the tenant's own `priority DESC, seq` order)
 * the start tag
 *
 *     start = max(last_start_t + 1/weight_t, V) + (k - 1) / weight_t     (V alone for a new tenant)
 *
 * leases the `n` smallest tags (ties: the older job first), and records each served tenant's
 * largest tag as its `last_start` and the largest of all as `V`. So:
 *
 * - tenants with backlog are served in turn, in proportion to their weights, whatever their
 *   backlogs: tenant B's single job waits behind at most one job of each other tenant of the
 *   same weight;
 * - a priority only reorders its own tenant's jobs: a tenant's 1000 and its 0 share one rank
 *   sequence, so raising priorities never takes another tenant's share;
 * - `max(…, V)` gives a tenant that was idle no credit for the idle time: it joins at the current
 *   clock, not ahead of tenants that kept a backlog (every `last_start` is at most V, so a tenant
 *   starts at most one turn, 1/weight, after V);
 * - a weight is read at each claim, so a changed weight applies from the next lease on.
 *
 * Cost: the claim finds the tenants with waiting jobs by skipping through `jobs_ready` (one index
 * seek per such tenant, the recursive `active` CTE), reads at most `n` entries of each one's
 * jobs (a covering index seek, "CORRELATED LIST SUBQUERY" in the plan) and sorts those
 * candidates: a queue with T tenants with backlog sorts up to T × n rows, whatever its depth, and
 * tenants with nothing waiting cost nothing. The candidates come from the jobs themselves, so a
 * waiting job is never missed for want of a bookkeeping row.
 */
export interface FairShareStatements {
  /** Sets a tenant's weight (every queue). Params: tenant, weight. */
  setWeight: Database.Statement<{ tenant: string; weight: number }>;
  /**
   * The claim, one statement: tenants with backlog, candidates, tags, the `n` smallest, marked
   * leased with their tag (`vstart`) in the row so RETURNING can report it.
   * Params: queue, n, expires.
   */
  claimFair: Database.Statement<{ queue: string; n: number; expires: number }, ClaimedJobRow>;
  /**
   * Records the served tenants' last start tags, one statement for the batch.
   * Params: queue, served (JSON `[[tenant, lastStartTag], …]`).
   */
  advanceTenants: Database.Statement<{ queue: string; served: string }>;
  /** Moves the queue's clock to the batch's largest start tag. Params: queue, vstart. */
  advanceClock: Database.Statement<{ queue: string; vstart: number }>;
}

export function prepareFairShareStatements(db: SqliteDatabase): FairShareStatements {
  return {
    setWeight: db.prepare(`
      INSERT INTO tenant_weights (tenant, weight) VALUES (:tenant, :weight)
      ON CONFLICT (tenant) DO UPDATE SET weight = excluded.weight WHERE weight <> excluded.weight`),

    claimFair: db.prepare(`
      WITH RECURSIVE active (tenant) AS (
        SELECT (SELECT tenant FROM jobs WHERE queue = :queue AND state = 0 ORDER BY tenant LIMIT 1)
        UNION ALL
        SELECT (SELECT j.tenant FROM jobs j WHERE j.queue = :queue AND j.state = 0 AND j.tenant > a.tenant
                ORDER BY j.tenant LIMIT 1)
        FROM active a WHERE a.tenant IS NOT NULL
      ),
      clock (v) AS (SELECT coalesce((SELECT vstart FROM queue_clocks WHERE queue = :queue), 0))
      UPDATE jobs SET state = 2, token = inferq_lease_token(), attempts = attempts + 1,
        lease_expires_at = :expires, vstart = pick.vstart
      FROM (
        SELECT seq, vstart FROM (
          SELECT j.seq, ${startTag} AS vstart
          FROM active a
          CROSS JOIN clock
          LEFT JOIN queue_tenants t ON t.queue = :queue AND t.tenant = a.tenant
          LEFT JOIN tenant_weights w ON w.tenant = a.tenant
          JOIN jobs j
            ON j.seq IN (SELECT seq FROM jobs WHERE queue = :queue AND tenant = a.tenant AND state = 0
                         ORDER BY priority DESC, seq LIMIT :n)
          WHERE a.tenant IS NOT NULL)
        ORDER BY ${leaseOrderSql} LIMIT :n) AS pick
      WHERE jobs.seq = pick.seq
      RETURNING seq, id, tenant, vstart, payload, priority, attempts, max_attempts, enqueued_at, token`),

    advanceTenants: db.prepare(`
      INSERT INTO queue_tenants (queue, tenant, last_start)
      SELECT :queue, json_extract(s.value, '$[0]'), json_extract(s.value, '$[1]') FROM json_each(:served) AS s
      WHERE true
      ON CONFLICT (queue, tenant) DO UPDATE SET last_start = excluded.last_start`),

    advanceClock: db.prepare(`
      INSERT INTO queue_clocks (queue, vstart) VALUES (:queue, :vstart)
      ON CONFLICT (queue) DO UPDATE SET vstart = max(vstart, excluded.vstart)`),
  };
}

/** Each served tenant's last start tag in a claimed batch, as `advanceTenants` takes it. */
export function servedTenants(rows: readonly ClaimedJobRow[]): string {
  const last = new Map<string, number>();
  for (const row of rows) last.set(row.tenant, Math.max(last.get(row.tenant) ?? row.vstart, row.vstart));
  return JSON.stringify([...last]);
}
