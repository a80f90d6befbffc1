/**
 * Schema of the PostgreSQL task store, one script per version (index + 1), append only: a
 * released migration is never edited. Applied by `migratePg` under an advisory lock.
 *
 * Layout follows the SQLite store (see its migrations for the reasoning), with PostgreSQL types:
 * - ids are TEXT COLLATE "C": UUIDv7 text sorts by time only under byte order, and "C" also keeps
 *   the `ORDER BY id DESC` listings on plain btree order whatever the database's locale.
 * - results live in `task_results` (TOASTed, never read by listings).
 * - timestamps are BIGINT milliseconds; JSON is TEXT (stored and returned verbatim: results can
 *   be several MB and jsonb would parse and re-serialise them for nothing).
 * - `result_cache` (version 1) is unused, as in SQLite: the result cache is the succeeded tasks.
 *   It stays until no host of a rolling upgrade still reads it; a later migration drops it.
 */
export const pgTaskStoreMigrations: readonly string[] = [
  `
  CREATE TABLE tasks (
    id               TEXT COLLATE "C" PRIMARY KEY,
    request_id       TEXT NOT NULL,
    owner            TEXT NOT NULL,
    target_kind      TEXT NOT NULL,
    target_name      TEXT NOT NULL,
    target_version   TEXT NOT NULL,
    input_sha256     TEXT NOT NULL,
    input_size       BIGINT NOT NULL,
    input_media_type TEXT NOT NULL,
    params           TEXT NOT NULL,
    params_hash      TEXT NOT NULL,
    priority         INTEGER NOT NULL,
    state            TEXT NOT NULL,
    attempts         INTEGER NOT NULL,
    max_attempts     INTEGER NOT NULL,
    error            TEXT,
    cached           SMALLINT NOT NULL,
    callback_url     TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    finished_at      BIGINT,
    worker_id        TEXT,
    lease_token      TEXT
  );
  CREATE INDEX tasks_owner_id        ON tasks (owner, id);
  CREATE INDEX tasks_owner_state_id  ON tasks (owner, state, id);
  CREATE INDEX tasks_state_id        ON tasks (state, id);
  CREATE INDEX tasks_target_id       ON tasks (target_name, target_version, id);
  CREATE INDEX tasks_target_name_id  ON tasks (target_name, id);
  CREATE INDEX tasks_input_id        ON tasks (input_sha256, id);
  CREATE INDEX tasks_request_id      ON tasks (request_id, id);
  CREATE INDEX tasks_finished_at     ON tasks (finished_at) WHERE finished_at IS NOT NULL;
  -- The outbox sweeper looks for old queued tasks: a small partial index (queued rows only).
  CREATE INDEX tasks_queued_updated  ON tasks (updated_at) WHERE state = 'queued';

  CREATE TABLE task_results (
    task_id TEXT COLLATE "C" PRIMARY KEY REFERENCES tasks (id) ON DELETE CASCADE,
    result  TEXT NOT NULL
  );

  CREATE TABLE task_timeline (
    seq     BIGSERIAL PRIMARY KEY,
    task_id TEXT COLLATE "C" NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    stage   TEXT NOT NULL,
    at      BIGINT NOT NULL,
    attempt INTEGER,
    data    TEXT
  );
  CREATE INDEX task_timeline_task ON task_timeline (task_id, seq);

  -- No foreign key to tasks (as in SQLite): retention deletes entries of deleted tasks itself.
  CREATE TABLE result_cache (
    target_ref   TEXT NOT NULL,
    input_sha256 TEXT NOT NULL,
    params_hash  TEXT NOT NULL,
    result       TEXT NOT NULL,
    task_id      TEXT COLLATE "C" NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (target_ref, input_sha256, params_hash)
  );
  CREATE INDEX result_cache_task ON result_cache (task_id);

  CREATE TABLE idempotency_keys (
    owner       TEXT NOT NULL,
    key         TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    request_id  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (owner, key)
  );
  CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

  CREATE TABLE task_feedback (
    seq      BIGSERIAL PRIMARY KEY,
    task_id  TEXT COLLATE "C" NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    feedback TEXT NOT NULL,
    at       BIGINT NOT NULL
  );
  CREATE INDEX task_feedback_task ON task_feedback (task_id, seq);

  CREATE TABLE webhook_deliveries (
    task_id  TEXT COLLATE "C" PRIMARY KEY REFERENCES tasks (id) ON DELETE CASCADE,
    state    TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_at  BIGINT NOT NULL
  );
  CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_at) WHERE state = 'pending';

  CREATE TABLE webhook_attempts (
    seq         BIGSERIAL PRIMARY KEY,
    task_id     TEXT COLLATE "C" NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    attempt     INTEGER NOT NULL,
    at          BIGINT NOT NULL,
    status_code INTEGER,
    error       TEXT,
    duration_ms BIGINT NOT NULL
  );
  CREATE INDEX webhook_attempts_task ON webhook_attempts (task_id, seq);
  `,
  `
  -- Pipeline steps are child tasks (parent, step, item of a map step). The partial index serves
  -- "every child of this task" in step/item order and leaves top-level rows out of it.
  ALTER TABLE tasks ADD COLUMN parent_id TEXT COLLATE "C";
  ALTER TABLE tasks ADD COLUMN step_id TEXT COLLATE "C";
  ALTER TABLE tasks ADD COLUMN item_index INTEGER;
  CREATE INDEX tasks_parent ON tasks (parent_id, step_id, item_index) WHERE parent_id IS NOT NULL;
  `,
  `
  -- GET /v1/tasks always filters by owner: with a target too, (owner, id) or (target, id) alone
  -- made PostgreSQL AND two bitmaps and sort every match of both (bench/postgres-explain.ts,
  -- 1M rows: ~10 ms, growing with the tenant). These walk one tenant's tasks of one target in id
  -- order and stop at LIMIT. A bare name lists every version, so it needs its own.
  CREATE INDEX tasks_owner_target_id      ON tasks (owner, target_name, target_version, id);
  CREATE INDEX tasks_owner_target_name_id ON tasks (owner, target_name, id);
  `,
  `
  -- A tenant's tasks of one input, newest first: the result-cache lookup and GET /v1/tasks
  -- ?inputSha256= read one tenant's entries only. (input_sha256, id) walked every tenant's tasks
  -- of the input, so other tenants' submissions slowed a listing and pushed a tenant's answer
  -- out of the cache lookup's window. The input hash still leads, for blob GC's "is it used".
  CREATE INDEX tasks_input_owner_id ON tasks (input_sha256, owner, id);
  DROP INDEX tasks_input_id;
  `,
  `
  -- The client's name for the input (a multipart file name), shown with the task and given as
  -- the download name of GET /v1/tasks/{id}/input. Metadata only: never a path.
  ALTER TABLE tasks ADD COLUMN input_name TEXT;
  `,
  `
  -- The task row is the lease (store/task-lease.ts): a claim sets lease_token and
  -- lease_expires_at, the worker's lease loop renews the expiry, and a claim under another
  -- token takes the task over only once it has passed. A task running when this migration
  -- runs was claimed under a broker lease of (by default) 30 s from its last update.
  ALTER TABLE tasks ADD COLUMN lease_expires_at BIGINT;
  UPDATE tasks SET lease_expires_at = updated_at + 30000 WHERE state = 'running';
  `,
];
