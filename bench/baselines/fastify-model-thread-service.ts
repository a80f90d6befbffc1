/**
 * The floor of bench/fast-path: a minimal Fastify server that hands each request's body
 * straight to a model in one worker thread (bench/baselines/model-thread.ts) and answers its
 * result, one request per model call: no auth, no checks, no batching, no queue. What an
 * answer-now service on the same runtimes costs at least. Started by bench/fast-path.ts:
 *   tsx bench/baselines/fastify-model-thread-service.ts   (prints "listening <url>")
 */
import { Worker } from 'node:worker_threads';
import Fastify from 'fastify';

const worker = new Worker(new URL('./model-thread-from-ts.mjs', import.meta.url), {
  execArgv: process.execArgv.filter((arg) => !arg.startsWith('--input-type')),
});
const pending = new Map<number, (result: unknown) => void>();
let nextId = 1;
await new Promise<void>((resolve, reject) => {
  worker.once('error', reject);
  worker.on('message', (message: { type: 'ready' } | { type: 'result'; id: number; result: unknown }) => {
    if (message.type === 'ready') resolve();
    else {
      pending.get(message.id)?.(message.result);
      pending.delete(message.id);
    }
  });
});

const app = Fastify();
app.removeAllContentTypeParsers();
app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
app.post<{ Params: { model: string } }>('/infer/:model', async (request) => {
  const id = nextId++;
  const bytes = request.body as Buffer;
  return new Promise((resolve) => {
    pending.set(id, resolve);
    worker.postMessage({ id, model: request.params.model, bytes });
  });
});
const address = await app.listen({ host: '127.0.0.1', port: 0 });
console.log(`listening ${address}`);
