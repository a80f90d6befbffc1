/**
 * The queue floor of bench/http (`--floor`): the sqlite-floor-service with a real queue and
 * worker, in the leanest layout: the task row is the job (state, lease, attempts and result in
 * one row, a partial index over queued rows). The API thread writes input and task in one group
 * commit and wakes the worker thread; the worker leases up to 64 queued rows in one UPDATE, runs
 * the echo "model" and settles them in a second one; a result request reads the row. Three
 * durable writes per task, one index entry per state, nothing else: the least a queue-and-worker
 * design on SQLite does. Started by bench/http.ts:
 *   tsx bench/baselines/sqlite-queue-floor-service.ts <dir> <key>   (prints "listening <url>")
 */
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';

const sha256 = (value: string | Buffer) => createHash('sha256').update(value).digest('hex');

const pragmas = ['journal_mode = WAL', 'synchronous = NORMAL', 'busy_timeout = 5000'];

/** The worker thread, plain CommonJS (a worker does not inherit tsx's loader for .ts files). */
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

const [dir, key] = process.argv.slice(2) as [string, string];
const file = path.join(dir, 'queue-floor.db');
const keyDigest = sha256(key);
const db = new Database(file);
for (const pragma of pragmas) db.pragma(pragma);
db.exec(`
    CREATE TABLE IF NOT EXISTS inputs (sha256 TEXT PRIMARY KEY, bytes BLOB NOT NULL) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS tasks (
      id INTEGER PRIMARY KEY, input_sha256 TEXT NOT NULL, state INTEGER NOT NULL,
      attempts INTEGER NOT NULL DEFAULT 0, lease_expires_at INTEGER, result TEXT);
    CREATE INDEX IF NOT EXISTS tasks_queued ON tasks (id) WHERE state = 0;
  `);
const worker = new Worker(workerSource, {
  eval: true,
  workerData: { file, pragmas, betterSqlite3: createRequire(import.meta.url).resolve('better-sqlite3') },
});
const putInput = db.prepare('INSERT OR IGNORE INTO inputs (sha256, bytes) VALUES (?, ?)');
const putTask = db.prepare('INSERT INTO tasks (input_sha256, state) VALUES (?, 0) RETURNING id');
const getTask = db.prepare('SELECT state, result FROM tasks WHERE id = ?');

interface Pending {
  text: string;
  sha: string;
  resolve(id: number): void;
}
let pending: Pending[] = [];
const commit = db.transaction((group: Pending[]) =>
  group.map((p) => {
    putInput.run(p.sha, Buffer.from(p.text));
    return (putTask.get(p.sha) as { id: number }).id;
  }),
);
const flush = (): void => {
  const group = pending;
  pending = [];
  const ids = commit(group);
  worker.postMessage('wake');
  for (const [i, p] of group.entries()) p.resolve(ids[i]!);
};
const authorised = (request: FastifyRequest, reply: FastifyReply): boolean => {
  const header = request.headers.authorization ?? '';
  if (header.startsWith('Bearer ') && sha256(header.slice(7)) === keyDigest) return true;
  void reply.code(401).send({ error: 'unauthorised' });
  return false;
};

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
  const task = getTask.get(Number(request.params.id)) as { state: number; result: string | null } | undefined;
  if (task?.result == null) return reply.code(404).send({ error: 'not ready' });
  return reply.type('application/json').send(`{"id":"${request.params.id}","result":${task.result}}`);
});
const address = await app.listen({ host: '127.0.0.1', port: 0 });
console.log(`listening ${address}`);
