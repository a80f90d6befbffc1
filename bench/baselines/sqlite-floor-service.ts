/**
 * The floors of bench/http (`--floor`): the least work an embedded design that meets issue 3's
 * conditions could do per task, with nothing else. Fastify; a Bearer key checked against a
 * SHA-256 digest held in memory (auth on, secret hashed); the input hashed (SHA-256) and stored
 * once by that hash; SQLite in WAL mode, `synchronous = NORMAL`, the submissions of an event-loop
 * turn written in one transaction. No validation beyond the body's shape, no timeline, no
 * listing indexes: strictly less than inferq must do, so their rates bound what inferq can reach
 * on the machine. Two modes:
 *
 * - default, **one write, no queue**: the task row is written already holding its result;
 * - `queue`, **lean queue + worker**: the task row is the job (state, lease, attempts and result
 *   in one row, a partial index over queued rows). The API thread writes input and task and wakes
 *   a worker thread, which leases up to 64 queued rows in one `UPDATE … RETURNING`, runs the echo
 *   "model" and settles them in a second transaction. Three durable writes per task.
 * - `layout`, **inferq's task layout**: the `queue` mode's three writes, but of inferq's own task
 *   store schema (its migrations, applied as they are) and rows (`newTaskRow`): the listing
 *   indexes the API's filters need, the timeline rows (created, queued, running, succeeded) and
 *   the result in `task_results`. No separate job table: it is what the storage layout alone
 *   costs, with the queue at its leanest.
 *
 * Started by bench/http.ts:
 *   tsx bench/baselines/sqlite-floor-service.ts <dir> <key> [queue]   (prints "listening <url>")
 */
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import { newId } from '../../src/core/ids.js';
import { taskStoreMigrations } from '../../src/store/sqlite/migrations.js';
import { newTaskRow, parentColumns, taskColumns } from '../../src/store/task-rows.js';

const [dir, key, mode] = process.argv.slice(2) as [string, string, string | undefined];
const layout = mode === 'layout';
const queued = mode === 'queue' || layout;
const sha256 = (value: string | Buffer) => createHash('sha256').update(value).digest('hex');
const keyDigest = sha256(key);
const file = path.join(dir, `${mode ?? 'write'}-floor.db`);
const pragmas = ['journal_mode = WAL', 'synchronous = NORMAL', 'busy_timeout = 5000'];

/** The queue mode's worker thread, plain CommonJS (a worker does not inherit tsx's loader). */
const workerSource = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.betterSqlite3);
const db = new Database(workerData.file);
for (const pragma of workerData.pragmas) db.pragma(pragma);
let leaseAll, settleAll;
if (workerData.layout) {
  // inferq's schema: the lease is its claim (state, attempts, worker, token) plus a timeline row;
  // the settle is its completion (state, finished_at), the result row and a timeline row.
  const lease = db.prepare(
    "UPDATE tasks SET state = 'running', attempts = attempts + 1, worker_id = 'w', lease_token = ?, updated_at = ? " +
    "WHERE id IN (SELECT id FROM tasks WHERE state = 'queued' ORDER BY id LIMIT 64) RETURNING id, input_sha256, attempts");
  const timeline = db.prepare('INSERT INTO task_timeline (task_id, stage, at, attempt, data) VALUES (?, ?, ?, ?, ?)');
  const settle = db.prepare(
    "UPDATE tasks SET state = 'succeeded', worker_id = NULL, lease_token = NULL, finished_at = ?, updated_at = ? WHERE id = ?");
  const result = db.prepare('INSERT INTO task_results (task_id, result) VALUES (?, ?)');
  leaseAll = db.transaction((now) => {
    const rows = lease.all(String(now), now);
    for (const row of rows) timeline.run(row.id, 'running', now, row.attempts, '{"workerId":"w"}');
    return rows;
  });
  settleAll = db.transaction((done) => {
    const now = Date.now();
    for (const [text, id] of done) {
      settle.run(now, now, id);
      result.run(id, text);
      timeline.run(id, 'succeeded', now, 1, null);
    }
  });
} else {
  const lease = db.prepare(
    'UPDATE tasks SET state = 1, attempts = attempts + 1, lease_expires_at = ? ' +
    'WHERE id IN (SELECT id FROM tasks WHERE state = 0 ORDER BY id LIMIT 64) RETURNING id, input_sha256');
  const settle = db.prepare('UPDATE tasks SET state = 2, result = ?, lease_expires_at = NULL WHERE id = ?');
  leaseAll = (now) => lease.all(now + 30000);
  settleAll = db.transaction((done) => { for (const [result, id] of done) settle.run(result, id); });
}
let running = false;
parentPort.on('message', () => {
  if (running) return;
  running = true;
  for (;;) {
    const leased = leaseAll(Date.now());
    if (leased.length === 0) break;
    // The echo "model" runs here, between the lease and the settle.
    settleAll(leased.map((t) => [JSON.stringify({ sha256: t.input_sha256 }), t.id]));
  }
  running = false;
});
`;

const db = new Database(file);
for (const pragma of pragmas) db.pragma(pragma);
db.exec('CREATE TABLE IF NOT EXISTS inputs (sha256 TEXT PRIMARY KEY, bytes BLOB NOT NULL) WITHOUT ROWID');
if (layout) for (const migration of taskStoreMigrations) db.exec(migration);
else {
  db.exec(`
    CREATE TABLE IF NOT EXISTS tasks (
      id INTEGER PRIMARY KEY, input_sha256 TEXT NOT NULL, state INTEGER NOT NULL,
      attempts INTEGER NOT NULL DEFAULT 0, lease_expires_at INTEGER, result TEXT);
    CREATE INDEX IF NOT EXISTS tasks_queued ON tasks (id) WHERE state = 0;
  `);
}
const worker = queued
  ? new Worker(workerSource, {
      eval: true,
      workerData: {
        file,
        pragmas,
        layout,
        betterSqlite3: createRequire(import.meta.url).resolve('better-sqlite3'),
      },
    })
  : undefined;
const putInput = db.prepare('INSERT OR IGNORE INTO inputs (sha256, bytes) VALUES (?, ?)');
const putTask = layout
  ? undefined
  : db.prepare('INSERT INTO tasks (input_sha256, state, result) VALUES (?, ?, ?) RETURNING id');
const getResult = layout ? undefined : db.prepare('SELECT result FROM tasks WHERE id = ?').pluck();
// inferq's layout: its own row builder and insert, the result joined from task_results.
const columns = [...taskColumns, ...parentColumns, 'lease_token'];
const putLayoutTask = layout
  ? db.prepare(`INSERT INTO tasks (${columns.join(', ')}) VALUES (${columns.map((c) => `@${c}`).join(', ')})`)
  : undefined;
const putTimeline = layout
  ? db.prepare('INSERT INTO task_timeline (task_id, stage, at, attempt, data) VALUES (?, ?, ?, NULL, NULL)')
  : undefined;
const getLayoutResult = layout
  ? db
      .prepare(
        "SELECT r.result FROM tasks t JOIN task_results r ON r.task_id = t.id WHERE t.id = ? AND t.state = 'succeeded'",
      )
      .pluck()
  : undefined;

interface Pending {
  text: string;
  sha: string;
  resolve(id: number | string): void;
}
let pending: Pending[] = [];
const requestId = newId();
const commit = db.transaction((group: Pending[]) =>
  group.map((p) => {
    putInput.run(p.sha, Buffer.from(p.text));
    if (putLayoutTask !== undefined && putTimeline !== undefined) {
      const at = Date.now();
      const { row } = newTaskRow(
        {
          requestId,
          owner: 'default',
          target: { kind: 'model', name: 'echo', version: '1.0.0' },
          input: { sha256: p.sha, size: Buffer.byteLength(p.text), mediaType: 'text/plain', name: null },
        },
        at,
      );
      putLayoutTask.run(row);
      putTimeline.run(row.id, 'created', at);
      putTimeline.run(row.id, 'queued', at);
      return row.id;
    }
    const row = queued ? [p.sha, 0, null] : [p.sha, 2, JSON.stringify({ sha256: p.sha })];
    return (putTask!.get(...row) as { id: number }).id;
  }),
);
function flush(): void {
  const group = pending;
  pending = [];
  const ids = commit(group);
  worker?.postMessage('wake');
  for (const [i, p] of group.entries()) p.resolve(ids[i]!);
}

function authorised(request: FastifyRequest, reply: FastifyReply): boolean {
  const header = request.headers.authorization ?? '';
  if (header.startsWith('Bearer ') && sha256(header.slice(7)) === keyDigest) return true;
  void reply.code(401).send({ error: 'unauthorised' });
  return false;
}

const app = Fastify();
app.post<{ Body: { text: string } }>('/tasks', async (request, reply) => {
  if (!authorised(request, reply)) return reply;
  const text = String(request.body.text);
  const sha = sha256(text);
  const id = await new Promise<number | string>((resolve) => {
    if (pending.push({ text, sha, resolve }) === 1) setImmediate(flush);
  });
  return reply.code(202).send({ id: String(id), sha256: sha });
});
app.get<{ Params: { id: string } }>('/tasks/:id/result', async (request, reply) => {
  if (!authorised(request, reply)) return reply;
  const result = (
    getLayoutResult === undefined
      ? getResult!.get(Number(request.params.id))
      : getLayoutResult.get(request.params.id)
  ) as string | null | undefined;
  if (result == null) return reply.code(404).send({ error: 'not ready' });
  return reply.type('application/json').send(`{"id":"${request.params.id}","result":${result}}`);
});
const address = await app.listen({ host: '127.0.0.1', port: 0 });
console.log(`listening ${address}`);
