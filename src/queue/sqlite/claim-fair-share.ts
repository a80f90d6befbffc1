import type Database from 'better-sqlite3';
import type { SqliteDatabase } from '../../sqlite/open-sqlite.js';

/**
 * Fair shares between tenants in the embedded queue: weighted fair queuing by start-time tags
 * (SFQ, Goyal et al. 1996), in SQL.
 *
 * `tenant_weights` holds each tenant's weight (every queue; default 1); each (queue, tenant) row
 * of `queue_tenants` holds `last_start`, the start tag of the tenant's last leased job there
 * (null before its first). The queue's clock `V` is the largest start tag leased so far
 * (`max(last_start)` over its tenants). A claim gives the k-th waiting job of tenant t
 * (k = 1, 2, … in the tenant's own `priority DESC, seq` order) the start tag
 *
 *     start = max(last_start_t + 1/weight_t, V) + (k - 1) / weight_t     (V alone for a new tenant)
 *
 * leases the `n` smallest tags (ties: the older job first), and records each served tenant's
 * largest tag as its `last_start`. So:
 *
 * - tenants with backlog are served in turn, in proportion to their weights, whatever their
 *   backlogs: tenant B's single job waits behind at most one job of each other tenant of the
 *   same weight;
 * - a priority only reorders its own tenant's jobs: a tenant's 1000 and its 0 share one rank
 *   sequence, so raising priorities never takes another tenant's share;
 * - `max(…, V)` gives a tenant that was idle no credit for the idle time: it joins at the current
 *   clock, not ahead of tenants that kept a backlog;
 * - a weight is read at each claim, so a changed weight applies from the next lease on.
 *
 * Cost: the claim reads at most `n` entries of `jobs_ready` per tenant of the queue (a covering
 * index seek each, "CORRELATED LIST SUBQUERY" in the plan) and sorts those candidates; a queue
 * with T tenants sorts up to T × n rows, whatever its depth. Rows of `queue_tenants` are kept
 * while the queue lives (one per tenant that ever enqueued on it): a tenant without waiting jobs
 * costs one index seek per claim.
 */
export interface FairShareStatements {
  /** Makes sure the tenant has a row on the queue. Params: queue, tenant. */
  addQueueTenant: Database.Statement<{ queue: string; tenant: string }>;
  /** Sets a tenant's weight (every queue). Params: tenant, weight. */
  setWeight: Database.Statement<{ tenant: string; weight: number }>;
  /**
   * The claim, one statement: candidates, tags, the `n` smallest, marked leased with their tag
   * (`vstart`) in the row so RETURNING can report it. Params: queue, n, expires.
   */
  claimFair: Database.Statement<{ queue: string; n: number; expires: number }, FairClaimedRow>;
  /**
   * Records the served tenants' last start tags, one statement for the batch.
   * Params: queue, served (JSON `[[tenant, lastStartTag], …]`).
   */
  advanceTenants: Database.Statement<{ queue: string; served: string }>;
}

/** A job as the fair claim returns it: already leased, with its token and start tag. */
export interface FairClaimedRow {
  seq: number;
  id: string;
  tenant: string;
  vstart: number;
  payload: string;
  priority: number;
  attempts: number;
  max_attempts: number;
  enqueued_at: number;
  token: string;
}

export function prepareFairShareStatements(db: SqliteDatabase): FairShareStatements {
  return {
    addQueueTenant: db.prepare(
      'INSERT INTO queue_tenants (queue, tenant) VALUES (:queue, :tenant) ON CONFLICT DO NOTHING',
    ),

    setWeight: db.prepare(`
      INSERT INTO tenant_weights (tenant, weight) VALUES (:tenant, :weight)
      ON CONFLICT (tenant) DO UPDATE SET weight = excluded.weight WHERE weight <> excluded.weight`),

    claimFair: db.prepare(`
      UPDATE jobs SET state = 2, token = inferq_lease_token(), attempts = attempts + 1,
        lease_expires_at = :expires, vstart = pick.vstart
      FROM (
        SELECT seq, vstart FROM (
          SELECT j.seq,
            max(coalesce(t.last_start + 1.0 / coalesce(w.weight, 1), 0),
                (SELECT coalesce(max(c.last_start), 0) FROM queue_tenants c WHERE c.queue = :queue))
              + (row_number() OVER (PARTITION BY t.tenant ORDER BY j.priority DESC, j.seq) - 1) * 1.0
                / coalesce(w.weight, 1) AS vstart
          FROM queue_tenants t
          LEFT JOIN tenant_weights w ON w.tenant = t.tenant
          JOIN jobs j
            ON j.seq IN (SELECT seq FROM jobs WHERE queue = t.queue AND tenant = t.tenant AND state = 0
                         ORDER BY priority DESC, seq LIMIT :n)
          WHERE t.queue = :queue)
        ORDER BY vstart, seq LIMIT :n) AS pick
      WHERE jobs.seq = pick.seq
      RETURNING seq, id, tenant, vstart, payload, priority, attempts, max_attempts, enqueued_at, token`),

    advanceTenants: db.prepare(`
      UPDATE queue_tenants SET last_start = json_extract(s.value, '$[1]')
      FROM json_each(:served) AS s
      WHERE queue = :queue AND tenant = json_extract(s.value, '$[0]')`),
  };
}

/** Each served tenant's last start tag in a claimed batch, as `advanceTenants` takes it. */
export function servedTenants(rows: readonly FairClaimedRow[]): string {
  const last = new Map<string, number>();
  for (const row of rows) last.set(row.tenant, Math.max(last.get(row.tenant) ?? row.vstart, row.vstart));
  return JSON.stringify([...last]);
}
