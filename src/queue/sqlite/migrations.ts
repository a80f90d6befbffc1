/**
 * Schema of the embedded queue (component `queue` of the task database, or of a queue file of
 * its own). `migrations[i]` brings it to version `i + 1` (its row of `inferq_schema`); a shipped
 * migration is never edited, only followed by a new one.
 *
 * One `jobs` table holds every job of every queue in one of four states (see `JobState` in
 * sqlite-statements.ts). Each hot query has its own *partial* index, so each index only holds the
 * rows that query can ever want:
 *
 * - `jobs_ready` (state 0) is ordered as `lease` claims within one tenant (queue, tenant,
 *   priority DESC, seq): the claim reads each tenant's first n entries and stops. Delayed jobs are kept out of it (state 1) and promoted when due, which is
 *   what keeps the claim a pure LIMIT scan however many jobs are queued or scheduled. SQLite
 *   frees emptied B-tree pages on DELETE, so the front of the index never fills up with dead
 *   entries the way a PostgreSQL queue table does between vacuums.
 * - `jobs_delayed` (state 1) by due time: promotion is a range scan over the due jobs only.
 * - `jobs_leased` (state 2) by lease expiry: the reaper's range scan.
 * - `jobs_dead` (state 3) for dead-letter listing.
 * - `jobs_id` (id, queue) UNIQUE: dedupe on enqueue, and ack/nack/extend, which know the id but
 *   not the queue. Every state is in it, so re-enqueueing the id of a dead job replaces the dead
 *   record with a fresh job (see `upsertJob`).
 *
 * `seq` (the rowid) gives FIFO order and an append-only table B-tree.
 *
 * `broadcasts` is a log read by sequence number. AUTOINCREMENT matters here: without it SQLite
 * reuses `max(rowid) + 1`, so after pruning every row a new message could get a sequence number
 * a subscriber has already passed, and be missed.
 */
export const queueMigrations: readonly string[] = [
  `
  CREATE TABLE jobs (
    seq              INTEGER PRIMARY KEY,
    queue            TEXT    NOT NULL,
    id               TEXT    NOT NULL,
    state            INTEGER NOT NULL,
    priority         INTEGER NOT NULL,
    run_at           INTEGER NOT NULL,
    payload          TEXT    NOT NULL,
    attempts         INTEGER NOT NULL,
    max_attempts     INTEGER NOT NULL,
    enqueued_at      INTEGER NOT NULL,
    token            TEXT,
    lease_expires_at INTEGER,
    error            TEXT,
    failed_at        INTEGER
  );
  CREATE UNIQUE INDEX jobs_id ON jobs (id, queue);
  CREATE INDEX jobs_ready ON jobs (queue, priority DESC, seq) WHERE state = 0;
  CREATE INDEX jobs_delayed ON jobs (queue, run_at) WHERE state = 1;
  CREATE INDEX jobs_leased ON jobs (lease_expires_at) WHERE state = 2;
  CREATE INDEX jobs_dead ON jobs (queue, failed_at) WHERE state = 3;

  CREATE TABLE broadcasts (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    channel      TEXT    NOT NULL,
    message      TEXT    NOT NULL,
    published_at INTEGER NOT NULL
  );
  CREATE INDEX broadcasts_published_at ON broadcasts (published_at);
  `,
  // 2: fair shares between tenants (claim-fair-share.ts). `jobs_ready` gains the tenant, so a
  // claim finds the tenants with waiting jobs and reads each one's first jobs in its own priority
  // order; `queue_tenants` keeps each served tenant's last start tag per queue, `queue_clocks`
  // each queue's virtual clock, `tenant_weights` each tenant's weight (every queue). Jobs from
  // before belong to tenant ''.
  `
  ALTER TABLE jobs ADD COLUMN tenant TEXT NOT NULL DEFAULT '';
  ALTER TABLE jobs ADD COLUMN vstart REAL;
  DROP INDEX jobs_ready;
  CREATE INDEX jobs_ready ON jobs (queue, tenant, priority DESC, seq) WHERE state = 0;
  CREATE TABLE queue_tenants (
    queue      TEXT NOT NULL,
    tenant     TEXT NOT NULL,
    last_start REAL NOT NULL,
    PRIMARY KEY (queue, tenant)
  ) WITHOUT ROWID;
  CREATE TABLE queue_clocks (
    queue  TEXT PRIMARY KEY,
    vstart REAL NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE tenant_weights (
    tenant TEXT PRIMARY KEY,
    weight REAL NOT NULL
  ) WITHOUT ROWID;
  `,
];
