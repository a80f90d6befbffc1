import { leaseOrderSql, startTagSql } from '../fair-share-tags.js';

/**
 * The lease, one statement: fair shares between tenants (the rule in ../fair-share-tags.ts) on
 * top of `FOR UPDATE SKIP LOCKED`, so any number of leasers on any number of hosts claim from a
 * queue at once without waiting for each other or taking the same job.
 *
 * 1. `active`: the tenants with waiting jobs, by skipping through `broker_jobs_ready` (a
 *    recursive "loose index scan": one index seek per such tenant; tenants with nothing waiting
 *    cost nothing).
 * 2. `candidates`: each such tenant's first `n` waiting jobs in its own `priority DESC, seq`
 *    order, locked `FOR UPDATE SKIP LOCKED` — rows another claim holds right now are passed
 *    over, not waited for. A row that another claim leased (and committed) since this
 *    statement's snapshot is re-checked by PostgreSQL against `state = 0` and dropped, so a job
 *    is never leased twice.
 * 3. `tagged`, `pick`: start tags, and the `n` smallest.
 * 4. `leased`: those rows become leased with a fresh token, one attempt more, and their tag.
 * 5. `served`, `clocked`: each served tenant's `last_start` and the queue's clock move forward.
 *    `greatest` makes two claims that tagged from the same bookkeeping (they ran at once) leave
 *    it where the later tags say; their tags may then tie, which costs a tenant at most one extra
 *    turn, never a job. These rows are the only ones a claim waits for (jobs it skips); it
 *    takes them in one order (tenants sorted, then the clock), so two claims never deadlock.
 *
 * Cost: up to T × n candidate rows locked and sorted for T tenants with backlog, whatever the
 * queue's depth; the locks on candidates not picked last only for this statement.
 *
 * Params: $1 queue, $2 n, $3 lease expiry (ms since epoch).
 */
export const claimJobsSql = `
  WITH RECURSIVE active (tenant) AS (
    (SELECT tenant FROM broker_jobs WHERE queue = $1::text AND state = 0 ORDER BY tenant LIMIT 1)
    UNION ALL
    SELECT (SELECT j.tenant FROM broker_jobs j
            WHERE j.queue = $1::text AND j.state = 0 AND j.tenant > a.tenant ORDER BY j.tenant LIMIT 1)
    FROM active a WHERE a.tenant IS NOT NULL
  ),
  clock (v) AS (SELECT coalesce((SELECT vstart FROM broker_clocks WHERE queue = $1::text), 0)),
  candidates AS (
    SELECT a.tenant, c.seq, c.priority
    FROM active a
    CROSS JOIN LATERAL (
      SELECT seq, priority FROM broker_jobs
      WHERE queue = $1::text AND tenant = a.tenant AND state = 0
      ORDER BY priority DESC, seq
      LIMIT $2
      FOR UPDATE SKIP LOCKED
    ) c
    WHERE a.tenant IS NOT NULL
  ),
  tagged AS (
    SELECT c.seq, ${startTagSql('postgres', {
      lastStart: 't.last_start',
      weight: 'w.weight',
      clock: 'clock.v',
      tenant: 'c.tenant',
      priority: 'c.priority',
      seq: 'c.seq',
    })} AS vstart
    FROM candidates c
    CROSS JOIN clock
    LEFT JOIN broker_tenants t ON t.queue = $1::text AND t.tenant = c.tenant
    LEFT JOIN broker_tenant_weights w ON w.tenant = c.tenant
  ),
  pick AS (SELECT seq, vstart FROM tagged ORDER BY ${leaseOrderSql} LIMIT $2),
  leased AS (
    UPDATE broker_jobs j
    SET state = 2, token = gen_random_uuid()::text, attempts = j.attempts + 1,
        lease_expires_at = $3, vstart = pick.vstart
    FROM pick
    WHERE j.seq = pick.seq
    RETURNING j.seq, j.id, j.tenant, j.vstart, j.payload, j.priority, j.attempts, j.max_attempts,
              j.enqueued_at, j.token
  ),
  served AS (
    INSERT INTO broker_tenants (queue, tenant, last_start)
    SELECT $1::text, tenant, max(vstart) FROM leased GROUP BY tenant ORDER BY tenant
    ON CONFLICT (queue, tenant) DO UPDATE
      SET last_start = greatest(broker_tenants.last_start, excluded.last_start)
  ),
  clocked AS (
    INSERT INTO broker_clocks (queue, vstart)
    SELECT $1::text, max(vstart) FROM leased HAVING count(*) > 0
    ON CONFLICT (queue) DO UPDATE SET vstart = greatest(broker_clocks.vstart, excluded.vstart)
  )
  SELECT * FROM leased ORDER BY ${leaseOrderSql}`;
