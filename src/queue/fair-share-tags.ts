/**
 * The fair-share rule of the SQL brokers (SQLite's claim-fair-share.ts, PostgreSQL's
 * postgres/claim-jobs-sql.ts), written once: weighted fair queuing by start-time tags (SFQ,
 * Goyal et al. 1996).
 *
 * Per queue, each served tenant t keeps `last_start_t`, the start tag of its last leased job
 * there, and the queue keeps its clock `V`, the largest start tag leased so far; each tenant has
 * a weight `w_t` (every queue; default 1). A claim gives the k-th waiting job of tenant t
 * (k = 1, 2, … in the tenant's own `priority DESC, seq` order) the start tag
 *
 *     start = max(last_start_t + 1/w_t, V) + (k - 1) / w_t     (V alone for a new tenant)
 *
 * leases the `n` smallest tags (ties: the older job, smaller `seq`, first), and records each
 * served tenant's largest tag as its `last_start` and the largest of all as `V`. So tenants with
 * backlog are served in turn, in proportion to their weights, whatever their backlogs; a priority
 * only reorders its own tenant's jobs; a tenant that was idle joins at the clock, with no credit
 * for the idle time; a changed weight applies from the next claim on.
 *
 * Only the SQL spelling differs between the engines (`max` of two values is `greatest` in
 * PostgreSQL), so the expression is built here from the column names each claim uses. The Redis
 * broker keeps the same tags in Redis and spells this rule in Lua (redis/fair-lease-plan.ts),
 * where no SQL runs.
 */
export interface StartTagTerms {
  /** The tenant's `last_start` (NULL for a tenant never served on this queue). */
  lastStart: string;
  /** The tenant's weight (NULL: default 1). */
  weight: string;
  /** The queue's clock `V` (0 before the first claim). */
  clock: string;
  /** The candidate's tenant, its priority and its FIFO sequence number. */
  tenant: string;
  priority: string;
  seq: string;
}

export type SqlDialect = 'sqlite' | 'postgres';

/** The start tag of a candidate job, as a SQL expression (a window function over the candidates). */
export function startTagSql(dialect: SqlDialect, terms: StartTagTerms): string {
  const greatest = dialect === 'sqlite' ? 'max' : 'greatest';
  const weight = `coalesce(${terms.weight}, 1)`;
  const rank = `row_number() OVER (PARTITION BY ${terms.tenant} ORDER BY ${terms.priority} DESC, ${terms.seq})`;
  return `${greatest}(coalesce(${terms.lastStart} + 1.0 / ${weight}, 0), ${terms.clock}) + (${rank} - 1) * 1.0 / ${weight}`;
}

/** The order a claim leases its candidates in: start tag, then FIFO. */
export const leaseOrderSql = 'vstart, seq';
