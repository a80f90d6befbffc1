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

const [dir, key, mode] = process.argv.slice(2) as [string, string, string | undefined];
const queued = mode === 'queue';
const sha256 = (value: string | Buffer) => createHash('sha256').update(value).digest('hex');
const keyDigest = sha256(key);
const file = path.join(dir, queued ? 'queue-floor.db' : 'floor.db');
const pragmas = ['journal_mode = WAL', 'synchronous = NORMAL', 'busy_timeout = 5000'];

/** The queue mode's worker thread, plain CommonJS (a worker does not inherit tsx's loader). */
const workerSource = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.betterSqlite3);
const db = new Database(workerData.file);
for (const pragma of workerData.pragmas) db.pragma(pragma);
const lease = db.prepare(
  'UPDATE tasks SET state = 1, attempts = attempts + 1, lease_expires_at = ? ' +
  'WHERE id IN (SELECT id FROM tasks WHERE state = 0 ORDER BY id LIMIT 64) RETURNING id, input_sha256');
const settle = db.prepare('UPDATE tasks SET state = 2, result = ?, lease_expires_at = NULL WHERE id = ?');
const settleAll = db.transaction((done) => { for (const [result, id] of done) settle.run(result, id); });
let running = false;
parentPort.on('message', () => {
  if (running) return;
  running = true;
  for (;;) {
    const leased = lease.all(Date.now() + 30000);
    if (leased.length === 0) break;
    // The echo "model" runs here, between the lease and the settle.
    settleAll(leased.map((t) => [JSON.stringify({ sha256: t.input_sha256 }), t.id]));
  }
  running = false;
});
`;

const db = new Database(file);
for (const pragma of pragmas) db.pragma(pragma);
db.exec(`
  CREATE TABLE IF NOT EXISTS inputs (sha256 TEXT PRIMARY KEY, bytes BLOB NOT NULL) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS tasks (
    id INTEGER PRIMARY KEY, input_sha256 TEXT NOT NULL, state INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, lease_expires_at INTEGER, result TEXT);
  CREATE INDEX IF NOT EXISTS tasks_queued ON tasks (id) WHERE state = 0;
`);
const worker = queued
  ? new Worker(workerSource, {
      eval: true,
      workerData: { file, pragmas, betterSqlite3: createRequire(import.meta.url).resolve('better-sqlite3') },
    })
  : undefined;
const putInput = db.prepare('INSERT OR IGNORE INTO inputs (sha256, bytes) VALUES (?, ?)');
const putTask = db.prepare('INSERT INTO tasks (input_sha256, state, result) VALUES (?, ?, ?) RETURNING id');
const getResult = db.prepare('SELECT result FROM tasks WHERE id = ?').pluck();

interface Pending {
  text: string;
  sha: string;
  resolve(id: number): void;
}
let pending: Pending[] = [];
const commit = db.transaction((group: Pending[]) =>
  group.map((p) => {
    putInput.run(p.sha, Buffer.from(p.text));
    const row = queued ? [p.sha, 0, null] : [p.sha, 2, JSON.stringify({ sha256: p.sha })];
    return (putTask.get(...row) as { id: number }).id;
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
  const id = await new Promise<number>((resolve) => {
    if (pending.push({ text, sha, resolve }) === 1) setImmediate(flush);
  });
  return reply.code(202).send({ id: String(id), sha256: sha });
});
app.get<{ Params: { id: string } }>('/tasks/:id/result', async (request, reply) => {
  if (!authorised(request, reply)) return reply;
  const result = getResult.get(Number(request.params.id)) as string | null | undefined;
  if (result == null) return reply.code(404).send({ error: 'not ready' });
  return reply.type('application/json').send(`{"id":"${request.params.id}","result":${result}}`);
});
const address = await app.listen({ host: '127.0.0.1', port: 0 });
console.log(`listening ${address}`);
