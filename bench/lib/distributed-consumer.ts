/**
 * One no-op consumer process for bench/distributed.ts:
 *
 *   tsx bench/lib/distributed-consumer.ts <mode> <url> <prefix> <queue> <inflight>
 *
 * mode: `redis` (inferq's RedisBroker), `bullmq` (a raw BullMQ Worker), `rabbitmq` (inferq's
 * RabbitMqBroker), `amqplib` (a raw amqplib consumer). Prints `ready`, then `acked <n>` every
 * 100 ms; on SIGTERM prints `latencies <json>` (enqueue → ack, ms, of jobs whose payload has
 * `lat: true`) and exits. Jobs carry `t`, the producer's Date.now() at enqueue.
 */
import amqp from 'amqplib';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import type { Broker } from '../../src/queue/broker.js';
import { RabbitMqBroker } from '../../src/queue/rabbitmq/rabbitmq-broker.js';
import { RedisBroker } from '../../src/queue/redis/redis-broker.js';

const [mode, url, prefix, queue, inflightArg] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
  string,
];
const inflight = Number(inflightArg);
let acked = 0;
const latencies: number[] = [];
const record = (payload: unknown) => {
  acked++;
  const p = payload as { t?: number; lat?: boolean } | null;
  if (p?.lat === true && typeof p.t === 'number') latencies.push(Date.now() - p.t);
};
let stopping = false;
const stops: Array<() => Promise<void>> = [];

if (mode === 'redis' || mode === 'rabbitmq') {
  const broker: Broker =
    mode === 'redis' ? await RedisBroker.open(url, { prefix }) : await RabbitMqBroker.open(url, { prefix });
  // As inferq's worker does: two lease loops, each with half the jobs in flight.
  const loops = [0, 1].map(async () => {
    while (!stopping) {
      const jobs = await broker.lease(queue, {
        max: Math.max(1, inflight / 2),
        leaseMs: 30_000,
        waitMs: 500,
      });
      if (jobs.length === 0) continue;
      await broker.ack(jobs);
      for (const job of jobs) record(job.payload);
    }
  });
  stops.push(async () => {
    await Promise.all(loops);
    await broker.close();
  });
} else if (mode === 'bullmq') {
  const connection = new Redis(url, { maxRetriesPerRequest: null });
  const worker = new Worker(queue, async () => undefined, {
    connection,
    prefix,
    concurrency: inflight,
    removeOnComplete: { count: 0 },
  });
  worker.on('completed', (job) => record(job.data));
  await worker.waitUntilReady();
  stops.push(async () => {
    await worker.close();
    connection.disconnect();
  });
} else if (mode === 'amqplib') {
  const connection = await amqp.connect(url);
  const channel = await connection.createChannel();
  await channel.assertQueue(`${prefix}.${queue}`, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
  await channel.prefetch(inflight);
  await channel.consume(`${prefix}.${queue}`, (msg) => {
    if (msg === null) return;
    channel.ack(msg);
    record(JSON.parse(msg.content.toString('utf8')));
  });
  stops.push(async () => {
    await connection.close();
  });
} else {
  throw new Error(`unknown mode ${mode}`);
}

const ticker = setInterval(() => process.stdout.write(`acked ${acked}\n`), 100);
process.stdout.write('ready\n');
process.once('SIGTERM', async () => {
  stopping = true;
  clearInterval(ticker);
  process.stdout.write(`acked ${acked}\nlatencies ${JSON.stringify(latencies)}\n`);
  await Promise.race([Promise.all(stops.map((s) => s())), new Promise((r) => setTimeout(r, 3_000))]);
  process.exit(0);
});
