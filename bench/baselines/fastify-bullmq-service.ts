/**
 * The baseline of bench/http: a minimal Fastify + BullMQ service doing what inferq's echo path
 * does (submit → job → result), as one would write it by hand. `GET …/result?wait=ms` waits
 * for the job server-side the BullMQ way (`job.waitUntilFinished` on a QueueEvents stream), for
 * bench/http's `--wait-ms` mode. Started by bench/http.ts:
 *   tsx bench/baselines/fastify-bullmq-service.ts <redisPort>   (prints "listening <url>")
 */
import { createHash } from 'node:crypto';
import { Job, Queue, QueueEvents, Worker } from 'bullmq';
import Fastify from 'fastify';

const port = Number(process.argv[2]);
const connection = { host: '127.0.0.1', port, maxRetriesPerRequest: null };
const queue = new Queue('echo', { connection });
const events = new QueueEvents('echo', { connection });
await events.waitUntilReady();
new Worker(
  'echo',
  async (job) => ({ sha256: createHash('sha256').update(String(job.data.text)).digest('hex') }),
  { connection, concurrency: 64 },
);

const app = Fastify();
app.post<{ Body: { text: string } }>('/tasks', async (request, reply) => {
  const job = await queue.add('echo', { text: request.body.text }, { attempts: 3, removeOnComplete: 10_000 });
  return reply.code(202).send({ id: job.id });
});
app.get<{ Params: { id: string }; Querystring: { wait?: string } }>(
  '/tasks/:id/result',
  async (request, reply) => {
    const job = await Job.fromId(queue, request.params.id);
    if (job === undefined) return reply.code(404).send({ error: 'no such task' });
    const waitMs = Number(request.query.wait ?? 0);
    if (!(await job.isCompleted())) {
      if (waitMs <= 0) return reply.code(404).send({ error: 'not ready' });
      try {
        return { id: job.id, result: await job.waitUntilFinished(events, waitMs) };
      } catch {
        return reply.code(404).send({ error: 'not ready' });
      }
    }
    return { id: job.id, result: job.returnvalue };
  },
);
const address = await app.listen({ host: '127.0.0.1', port: 0 });
console.log(`listening ${address}`);
