import type { TaskLease } from '../task-store.js';
import type { SqlColumns, SqlDialect } from './sql-dialect.js';

/*
 * Renews the leases of a batch in one statement, whatever its size (TaskStore.renewLeases).
 * Parameters: `@until` (the new expiry, ms), and the rows `l(id, token)` of {@link renewLeasesParams}.
 * Returns the ids renewed: a lease taken over, settled or released since is not.
 */

const leaseColumns: SqlColumns = [
  ['id', 'text'],
  ['token', 'text'],
];

/** `@until` for every row still running under its token; `RETURNING id` of those. */
export function renewLeasesSql(d: SqlDialect): string {
  return `UPDATE tasks SET lease_expires_at = @until FROM ${d.rows('l', leaseColumns)}
    WHERE tasks.id = l.id AND tasks.lease_token = l.token AND tasks.state = 'running'
    RETURNING tasks.id AS id`;
}

/** The rows of {@link renewLeasesSql}: each lease's task id and token. */
export function renewLeasesParams(d: SqlDialect, leases: readonly TaskLease[]): Record<string, unknown> {
  return d.rowsParam(
    'l',
    leaseColumns,
    leases.map((l) => [l.id, l.leaseToken]),
  );
}
