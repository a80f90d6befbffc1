/**
 * Schema of the SQLite task store, one SQL script per schema version (index + 1). Append only:
 * a released migration is never edited, because existing databases have already applied it.
 *
 * Layout choices:
 * - Results live in `task_results`, not in `tasks`: they can be several MB, and a listing must
 *   never read them (a wide `tasks` row would push its other columns into overflow pages).
 * - Every listing index ends in `id`, so "newest first" (`ORDER BY id DESC`, ids are UUIDv7)
 *   is read straight off the index with no sort, however many rows match.
 * - Timestamps are integer milliseconds; JSON values are TEXT.
 * - `result_cache` (version 1) is no longer read or written: the result cache is the succeeded
 *   tasks themselves (getCachedResult). Nothing ever filled it, so it is empty; it is left in
 *   place so that a host still running an older inferq does not fail on a missing table during
 *   an upgrade, and a later migration drops it.
 */
export const taskStoreMigrations: readonly string[] = [
  `
  CREATE TABLE tasks (
    id               TEXT PRIMARY KEY,
    request_id       TEXT NOT NULL,
    owner            TEXT NOT NULL,
    target_kind      TEXT NOT NULL,
    target_name      TEXT NOT NULL,
    target_version   TEXT NOT NULL,
    input_sha256     TEXT NOT NULL,
    input_size       INTEGER NOT NULL,
    input_media_type TEXT NOT NULL,
    params           TEXT NOT NULL,
    params_hash      TEXT NOT NULL,
    priority         INTEGER NOT NULL,
    state            TEXT NOT NULL,
    attempts         INTEGER NOT NULL,
    max_attempts     INTEGER NOT NULL,
    error            TEXT,
    cached           INTEGER NOT NULL,
    callback_url     TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    finished_at      INTEGER,
    worker_id        TEXT,
    lease_token      TEXT
  ) STRICT;

  CREATE INDEX tasks_owner_id        ON tasks (owner, id);
  CREATE INDEX tasks_owner_state_id  ON tasks (owner, state, id);
  CREATE INDEX tasks_state_id        ON tasks (state, id);
  CREATE INDEX tasks_target_id       ON tasks (target_name, target_version, id);
  CREATE INDEX tasks_target_name_id  ON tasks (target_name, id);
  CREATE INDEX tasks_input_id        ON tasks (input_sha256, id);
  CREATE INDEX tasks_request_id      ON tasks (request_id, id);
  -- Retention scans finished tasks by age; unfinished rows stay out of this index.
  CREATE INDEX tasks_finished_at     ON tasks (finished_at) WHERE finished_at IS NOT NULL;

  CREATE TABLE task_results (
    task_id TEXT PRIMARY KEY REFERENCES tasks (id) ON DELETE CASCADE,
    result  TEXT NOT NULL
  ) STRICT;

  -- The rowid (seq) keeps entries in the order they were recorded, even within one millisecond.
  CREATE TABLE task_timeline (
    seq     INTEGER PRIMARY KEY,
    task_id TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    stage   TEXT NOT NULL,
    at      INTEGER NOT NULL,
    attempt INTEGER,
    data    TEXT
  ) STRICT;
  CREATE INDEX task_timeline_task ON task_timeline (task_id, seq);

  -- No foreign key to tasks: a cache entry may be written for a task id the store does not hold
  -- (another store, a test); retention deletes entries of deleted tasks explicitly.
  CREATE TABLE result_cache (
    target_ref   TEXT NOT NULL,
    input_sha256 TEXT NOT NULL,
    params_hash  TEXT NOT NULL,
    result       TEXT NOT NULL,
    task_id      TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (target_ref, input_sha256, params_hash)
  ) STRICT;
  CREATE INDEX result_cache_task ON result_cache (task_id);
  `,
  `
  -- Idempotency-Key → the request it created. The fingerprint (a hash of the body) tells a
  -- retry of the same request from a reuse of the key for another one.
  CREATE TABLE idempotency_keys (
    owner       TEXT NOT NULL,
    key         TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    request_id  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (owner, key)
  ) STRICT;
  CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

  CREATE TABLE task_feedback (
    seq      INTEGER PRIMARY KEY,
    task_id  TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    feedback TEXT NOT NULL,
    at       INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX task_feedback_task ON task_feedback (task_id, seq);

  -- One row per task that has a callback URL, written with the task: the dispatcher reads due
  -- deliveries off the partial index instead of scanning every finished task.
  CREATE TABLE webhook_deliveries (
    task_id  TEXT PRIMARY KEY REFERENCES tasks (id) ON DELETE CASCADE,
    state    TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_at  INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_at) WHERE state = 'pending';

  CREATE TABLE webhook_attempts (
    seq         INTEGER PRIMARY KEY,
    task_id     TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    attempt     INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    status_code INTEGER,
    error       TEXT,
    duration_ms INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX webhook_attempts_task ON webhook_attempts (task_id, seq);
  `,
  `
  -- Pipeline steps are child tasks: the parent, the step and the item of a map step. The
  -- partial index serves "every child of this task" and leaves top-level rows out of it.
  ALTER TABLE tasks ADD COLUMN parent_id TEXT;
  ALTER TABLE tasks ADD COLUMN step_id TEXT;
  ALTER TABLE tasks ADD COLUMN item_index INTEGER;
  CREATE INDEX tasks_parent ON tasks (parent_id, step_id, item_index) WHERE parent_id IS NOT NULL;
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
  -- GET /v1/tasks?target= lists one tenant's tasks: (target_name, id) walked every tenant's tasks
  -- of the model to find that tenant's, so a small tenant's listing on a busy model read the
  -- others' rows (slow, and a timing signal). These walk one tenant's tasks of one target in id
  -- order and stop at LIMIT, as the PostgreSQL store's do. A bare name lists every version, so
  -- it needs its own. They replace the target-first ones: nothing reads those without an owner
  -- but the admin's counts, which read every row either way.
  CREATE INDEX tasks_owner_target_id      ON tasks (owner, target_name, target_version, id);
  CREATE INDEX tasks_owner_target_name_id ON tasks (owner, target_name, id);
  DROP INDEX tasks_target_id;
  DROP INDEX tasks_target_name_id;
  `,
  `
  -- The client's name for the input (a multipart file name), shown with the task and given as
  -- the download name of GET /v1/tasks/{id}/input. Metadata only: never a path.
  ALTER TABLE tasks ADD COLUMN input_name TEXT;
  `,
  `
  -- A pipeline coordinator reads only the children that changed since its last read
  -- (listChildTasksChangedSince): every insert of a child and every write of its state stamps
  -- it with the next value of one counter. Writers are serialised, so the stamps follow commit
  -- order and "stamp > the highest one read" misses nothing. Triggers, so that no write path
  -- (claim, complete, retry, reap, cancel) can forget it; the inner UPDATE sets no state, so
  -- it does not fire them again.
  ALTER TABLE tasks ADD COLUMN change_seq INTEGER;
  CREATE TABLE child_change_counter (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL) STRICT;
  INSERT INTO child_change_counter (id, seq) VALUES (1, 0);
  CREATE TRIGGER tasks_child_inserted AFTER INSERT ON tasks WHEN NEW.parent_id IS NOT NULL BEGIN
    UPDATE child_change_counter SET seq = seq + 1 WHERE id = 1;
    UPDATE tasks SET change_seq = (SELECT seq FROM child_change_counter WHERE id = 1) WHERE id = NEW.id;
  END;
  CREATE TRIGGER tasks_child_state AFTER UPDATE OF state ON tasks WHEN NEW.parent_id IS NOT NULL BEGIN
    UPDATE child_change_counter SET seq = seq + 1 WHERE id = 1;
    UPDATE tasks SET change_seq = (SELECT seq FROM child_change_counter WHERE id = 1) WHERE id = NEW.id;
  END;
  `,
  `
  -- The task row is the lease (store/task-lease.ts): a claim sets lease_token and
  -- lease_expires_at, the worker's lease loop renews the expiry, and a claim under another
  -- token takes the task over only once it has passed. A task running when this migration
  -- runs was claimed under a broker lease of (by default) 30 s from its last update.
  ALTER TABLE tasks ADD COLUMN lease_expires_at INTEGER;
  UPDATE tasks SET lease_expires_at = updated_at + 30000 WHERE state = 'running';
  `,
];
