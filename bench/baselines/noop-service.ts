/**
 * The ceiling of bench/http (`--ceiling`): a Fastify server that answers a submission with a
 * fresh id and every result request with a constant, storing nothing and queueing nothing. With
 * the bench's own client it shows how many submit-and-fetch pairs the client and the HTTP stack
 * alone allow on the machine. Started by bench/http.ts:
 *   tsx bench/baselines/noop-service.ts   (prints "listening <url>")
 */
import { randomUUID } from 'node:crypto';
import Fastify from 'fastify';

const app = Fastify();
app.post('/tasks', async (_request, reply) => reply.code(202).send({ id: randomUUID() }));
app.get<{ Params: { id: string } }>('/tasks/:id/result', async (request) => ({
  id: request.params.id,
  result: { ok: true },
}));
const address = await app.listen({ host: '127.0.0.1', port: 0 });
console.log(`listening ${address}`);
