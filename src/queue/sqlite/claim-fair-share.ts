import type Database from 'better-sqlite3';
import type { SqliteDatabase } from '../../sqlite/open-sqlite.js';

/**
 * Fair shares between tenants in the embedded queue: weighted fair queuing by start-time tags
 * (SFQ, Goyal et al. 1996), in SQL.
 *
 * Each (queue, tenant) row of `queue_tenants` holds the tenant's `weight` and `finish`: the
 * virtual time at which its next job may start. The queue's clock `V` is the largest start tag
 * served so far (`max(finish - 1/weight)` over its tenants). A claim gives the k-th waiting job
 * of tenant t (k = 1, 2, … in the tenant's own `priority DESC, seq` order) the start tag
 *
 *     start = max(finish_t, V) + (k - 1) / weight_t
 *
 * and leases the `n` smallest tags (ties: the older job first). Then each served tenant's
 * `finish` becomes its last start tag + 1/weight. So:
 *
 * - tenants with backlog are served in turn, in proportion to their weights, whatever their
 *   backlogs: tenant B's single job waits behind at most one job of each other tenant;
 * - a priority only reorders its own tenant's jobs: a tenant's 1000 and its 0 share one rank
 *   sequence, so raising priorities never takes another tenant's share;
 * - `max(finish_t, V)` gives a tenant that was idle no credit for the idle time: it joins at the
 *   current clock, not ahead of tenants that kept a backlog.
 *
 * Cost: the claim reads at most `n` entries of `jobs_ready` per tenant of the queue (a covering
 * index seek each, "CORRELATED LIST SUBQUERY" in the plan) and sorts those candidates; a queue
 * with T tenants sorts up to T × n rows, whatever its depth. Rows of `queue_tenants` are kept
 * while the queue lives (one per tenant that ever enqueued on it): a tenant without waiting jobs
 * costs one index seek per claim.
 */
export interface FairShareStatements {
  /**
   * Makes sure the tenant has a row; a given weight replaces the stored one (the latest enqueue
   * carries the tenant's current weight), none keeps it (default 1).
   * Params: queue, tenant, weight (null: keep).
   */
  upsertTenant: Database.Statement<{ queue: string; tenant: string; weight: number | null }>;
  /**
   * The claim, one statement: candidates, tags, the `n` smallest, marked leased with their tag
   * (`vstart`) in the row so RETURNING can report it. Params: queue, n, expires.
   */
  claimFair: Database.Statement<{ queue: string; n: number; expires: number }, FairClaimedRow>;
  /**
   * Advances the served tenants' finish times, one statement for the batch.
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
    upsertTenant: db.prepare(`
      INSERT INTO queue_tenants (queue, tenant, weight, finish)
      VALUES (:queue, :tenant, coalesce(:weight, 1), 0)
      ON CONFLICT (queue, tenant) DO UPDATE SET weight = :weight
      WHERE :weight IS NOT NULL AND queue_tenants.weight <> :weight`),

    claimFair: db.prepare(`
      UPDATE jobs SET state = 2, token = inferq_lease_token(), attempts = attempts + 1,
        lease_expires_at = :expires, vstart = pick.vstart
      FROM (
        SELECT seq, vstart FROM (
          SELECT j.seq,
            max(t.finish, (SELECT coalesce(max(c.finish - 1.0 / c.weight), 0)
                           FROM queue_tenants c WHERE c.queue = :queue))
              + (row_number() OVER (PARTITION BY t.tenant ORDER BY j.priority DESC, j.seq) - 1) * 1.0
                / t.weight AS vstart
          FROM queue_tenants t JOIN jobs j
            ON j.seq IN (SELECT seq FROM jobs WHERE queue = t.queue AND tenant = t.tenant AND state = 0
                         ORDER BY priority DESC, seq LIMIT :n)
          WHERE t.queue = :queue)
        ORDER BY vstart, seq LIMIT :n) AS pick
      WHERE jobs.seq = pick.seq
      RETURNING seq, id, tenant, vstart, payload, priority, attempts, max_attempts, enqueued_at, token`),

    advanceTenants: db.prepare(`
      UPDATE queue_tenants SET finish = json_extract(s.value, '$[1]') + 1.0 / weight
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
