/**
 * The floor of bench/http (`--floor`): the least work any embedded design that meets issue 3's
 * conditions could do per task, with nothing else. Fastify; a Bearer key checked against a
 * SHA-256 digest held in memory (auth on, secret hashed); the input hashed (SHA-256) and stored
 * once by that hash; and ONE SQLite write per task (WAL, `synchronous = NORMAL`, group commit of
 * every submission of an event-loop turn) that stores the input and a task row already
 * holding its result. No queue, no lease, no worker, no second write, no timeline, no listing
 * indexes, no validation beyond the body's shape: strictly less than inferq must do, so its
 * rate is an upper bound for inferq on the machine. Started by bench/http.ts:
 *   tsx bench/baselines/sqlite-floor-service.ts <dir> <key>   (prints "listening <url>")
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import Database from 'better-sqlite3';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';

const [dir, key] = process.argv.slice(2) as [string, string];
const sha256 = (value: string | Buffer) => createHash('sha256').update(value).digest('hex');
const keyDigest = sha256(key);

const db = new Database(path.join(dir, 'floor.db'));
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
db.exec(`
  CREATE TABLE IF NOT EXISTS inputs (sha256 TEXT PRIMARY KEY, bytes BLOB NOT NULL) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS tasks (id INTEGER PRIMARY KEY, input_sha256 TEXT NOT NULL, result TEXT NOT NULL);
`);
const putInput = db.prepare('INSERT OR IGNORE INTO inputs (sha256, bytes) VALUES (?, ?)');
const putTask = db.prepare('INSERT INTO tasks (input_sha256, result) VALUES (?, ?) RETURNING id');
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
    return (putTask.get(p.sha, JSON.stringify({ sha256: p.sha })) as { id: number }).id;
  }),
);
function flush(): void {
  const group = pending;
  pending = [];
  const ids = commit(group);
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
  const result = getResult.get(Number(request.params.id)) as string | undefined;
  if (result === undefined) return reply.code(404).send({ error: 'no such task' });
  return reply.type('application/json').send(`{"id":"${request.params.id}","result":${result}}`);
});
const address = await app.listen({ host: '127.0.0.1', port: 0 });
console.log(`listening ${address}`);
