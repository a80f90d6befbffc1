/**
 * Schema of the PostgreSQL broker (component `queue` of `inferq_schema`, the name the SQLite
 * queue has; see migrate-pg.ts), one script per version (index + 1), append only. Its tables can
 * share a schema with the task store: every name starts with `broker_`.
 *
 * The layout is the SQLite broker's (src/queue/sqlite/migrations.ts, where each index is
 * explained): one `broker_jobs` table, a job in one of four states (0 waiting, 1 delayed,
 * 2 leased, 3 dead) and a partial index per hot query, so each index holds only the rows its
 * query can want. What differs on PostgreSQL:
 *
 * - an update writes a new row version and leaves the old index entries until vacuum, so the
 *   front of `broker_jobs_ready` collects dead entries under load; index scans skip them (and
 *   mark them dead for the next scan), and a small `fillfactor` is not worth it because every
 *   state change moves the row between partial indexes anyway (no HOT update);
 * - ids and tenants are TEXT COLLATE "C": byte order, the same whatever the database locale, and
 *   cheaper to compare;
 * - payloads are TEXT (stored and returned verbatim; jsonb would parse them for nothing);
 * - large broadcast messages (over NOTIFY's 8,000-byte payload limit) go through
 *   `broker_broadcasts`, a row per message that the notification names.
 */
export const pgBrokerMigrations: readonly string[] = [
  `
  CREATE TABLE broker_jobs (
    seq              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    queue            TEXT COLLATE "C" NOT NULL,
    id               TEXT COLLATE "C" NOT NULL,
    tenant           TEXT COLLATE "C" NOT NULL,
    state            SMALLINT NOT NULL,
    priority         BIGINT NOT NULL,
    run_at           BIGINT NOT NULL,
    payload          TEXT NOT NULL,
    attempts         INTEGER NOT NULL,
    max_attempts     INTEGER NOT NULL,
    enqueued_at      BIGINT NOT NULL,
    token            TEXT COLLATE "C",
    lease_expires_at BIGINT,
    vstart           DOUBLE PRECISION,
    error            TEXT,
    failed_at        BIGINT
  );
  CREATE UNIQUE INDEX broker_jobs_id ON broker_jobs (id, queue);
  CREATE INDEX broker_jobs_ready ON broker_jobs (queue, tenant, priority DESC, seq) WHERE state = 0;
  CREATE INDEX broker_jobs_delayed ON broker_jobs (queue, run_at) WHERE state = 1;
  CREATE INDEX broker_jobs_leased ON broker_jobs (lease_expires_at) WHERE state = 2;
  CREATE INDEX broker_jobs_dead ON broker_jobs (queue, failed_at) WHERE state = 3;

  CREATE TABLE broker_tenants (
    queue      TEXT COLLATE "C" NOT NULL,
    tenant     TEXT COLLATE "C" NOT NULL,
    last_start DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (queue, tenant)
  );
  CREATE TABLE broker_clocks (
    queue  TEXT COLLATE "C" PRIMARY KEY,
    vstart DOUBLE PRECISION NOT NULL
  );
  CREATE TABLE broker_tenant_weights (
    tenant TEXT COLLATE "C" PRIMARY KEY,
    weight DOUBLE PRECISION NOT NULL
  );

  CREATE TABLE broker_broadcasts (
    seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    channel      TEXT NOT NULL,
    message      TEXT NOT NULL,
    published_at BIGINT NOT NULL
  );
  CREATE INDEX broker_broadcasts_published_at ON broker_broadcasts (published_at);
  `,
];
