import { setTimeout as sleep } from 'node:timers/promises';
import type { Channel, ConfirmChannel, GetMessage, Options } from 'amqplib';
import { type BackoffPolicy, backoffDelay, defaultBackoff } from '../../core/backoff.js';
import { newId, newLeaseToken } from '../../core/ids.js';
import {
  type BroadcastMessage,
  type DeadJob,
  defaultMaxAttempts,
  type JobInput,
  type JobLease,
  type LeasedJob,
} from '../../core/job.js';
import { InferqError } from '../../errors/index.js';
import type {
  Broker,
  BrokerCapabilities,
  LeaseRequest,
  NackOutcome,
  NackRequest,
  QueueDepth,
  Unsubscribe,
} from '../broker.js';
import { type AmqpChannels, AmqpConnection } from './amqp-connection.js';
import { type HeldLease, LeaseTable } from './lease-table.js';
import { type DecodedMessage, decode, encode, type OutgoingMessage } from './message.js';
import {
  assertQueueName,
  broadcastExchange,
  delayArguments,
  delayBucket,
  delayBuckets,
  type QueueNames,
  queueNames,
  quorumArguments,
} from './topology.js';

export interface RabbitMqBrokerOptions {
  /** Prefix of every queue and exchange name (default `inferq`); tests use one per broker. */
  prefix?: string;
  backoff?: BackoffPolicy;
  /** How often a long-polling `lease` looks again for work. Default 25 ms, growing to 200 ms. */
  pollIntervalMs?: number;
  /** How long an operation waits for a reconnect before failing. Default 10 s. */
  reconnectWaitMs?: number;
  /**
   * How long `enqueue` keeps trying, across reconnects, to have RabbitMQ confirm its messages.
   * Default 60 s: a node restart takes several seconds, and the API's task is already written
   * (RabbitMQ has no outbox sweep to fall back on, see `liveJobLookup`).
   */
  enqueueRetryMs?: number;
}

const capabilities: BrokerCapabilities = Object.freeze({
  // Quorum queues have no message priorities (x-max-priority is a classic-queue feature).
  priorities: false,
  delayedJobs: true,
  // RabbitMQ cannot look a message up by id, so an enqueue cannot know the id is live.
  dedupeById: false,
  deadLetterInspection: true,
  broadcast: true,
  distributed: true,
  // Same reason: no lookup by message id (see hasLiveJob).
  liveJobLookup: false,
});

const maxLeaseBatch = 1_000;
/** A job whose not-before time is this close is due: not worth another trip through a bucket. */
const dueToleranceMs = 20;
/** requeueDead looks at no more than this many dead messages. */
const maxDeadScan = 10_000;

interface Subscription {
  channel: string;
  handler: (message: BroadcastMessage) => void;
  queue?: string;
  consumerTag?: string;
}

/**
 * The RabbitMQ broker (amqplib). Every inferq queue is a durable quorum queue `<prefix>.<queue>`
 * with a dead-letter quorum queue `<prefix>.<queue>.dead` and TTL delay queues
 * `<prefix>.<queue>.delay.<ms>` that dead-letter back to it. Publishing goes over a confirm
 * channel, so `enqueue` resolves only once RabbitMQ has the message.
 *
 * A lease is a message got with manual ack and held, unacked, by this instance under a token
 * and a timer ({@link LeaseTable}); when the timer fires the message is nacked back (requeued),
 * and RabbitMQ's `x-delivery-count` counts the attempt. Retries and dead-lettering are decided
 * here: the message is republished (to a delay queue, the work queue or the dead queue, with
 * confirms) and then acked, so a crash in between duplicates a job rather than losing it.
 *
 * Leases are `basic.get` polling, not a consumer: a consumer's prefetched messages would sit
 * unacked in this process while no caller has leased them — invisible to other workers, outside
 * any lease timer, and not counted as waiting. `get` takes exactly what a caller asked for; its
 * cost is a round trip per message and polling while idle (25 → 200 ms). Prefetch therefore does
 * not apply. Leases live in this process only: `depth().leased` counts this instance's leases,
 * and leases on a lost connection are gone (RabbitMQ redelivers those messages itself).
 */
export class RabbitMqBroker implements Broker {
  readonly kind = 'rabbitmq';
  readonly capabilities = capabilities;

  readonly #prefix: string;
  readonly #backoff: BackoffPolicy;
  readonly #pollMs: number;
  readonly #enqueueRetryMs: number;
  readonly #leases: LeaseTable;
  readonly #subscriptions = new Set<Subscription>();
  /** Queues declared on the current connection (redeclared after a reconnect). */
  readonly #asserted = new Set<string>();
  readonly #declared = { queues: new Set<string>(), exchanges: new Set<string>() };
  readonly #expiring = new Set<Promise<void>>();
  #expiredSinceReap = 0;
  #connection!: AmqpConnection;

  private constructor(options: RabbitMqBrokerOptions) {
    this.#prefix = options.prefix ?? 'inferq';
    this.#backoff = options.backoff ?? defaultBackoff;
    this.#pollMs = options.pollIntervalMs ?? 25;
    this.#enqueueRetryMs = options.enqueueRetryMs ?? 60_000;
    this.#leases = new LeaseTable((held) => this.#track(this.#expire(held)));
  }

  static async open(url: string, options: RabbitMqBrokerOptions = {}): Promise<RabbitMqBroker> {
    const broker = new RabbitMqBroker(options);
    broker.#connection = await AmqpConnection.open(url, {
      reconnectWaitMs: options.reconnectWaitMs ?? 10_000,
      onLost: () => {
        broker.#leases.clear();
        broker.#asserted.clear();
      },
      onReconnect: (channels) => broker.#resubscribe(channels),
    });
    return broker;
  }

  async enqueue(queue: string, job: JobInput): Promise<string> {
    const [id] = await this.enqueueMany(queue, [job]);
    return id!;
  }

  async enqueueMany(queue: string, jobs: readonly JobInput[]): Promise<string[]> {
    assertQueueName(queue);
    if (jobs.length === 0) return [];
    const names = queueNames(this.#prefix, queue);
    const now = Date.now();
    const ids = jobs.map((job) => job.id ?? newId());
    const deadline = now + this.#enqueueRetryMs;
    // A connection lost before every confirm arrived (a node restart, a network cut): publish
    // the whole batch again once reconnected. Messages that did arrive become duplicates, which
    // the store's conditional transitions absorb (dedupeById is false); a lost one would be a
    // task that never runs.
    for (let pause = 100; ; pause = Math.min(2_000, pause * 2)) {
      try {
        const channels = await this.#ready(queue);
        await Promise.all(
          jobs.map((job, i) =>
            this.#publishJob(channels.publish, names, Math.max(0, job.delayMs ?? 0), {
              id: ids[i]!,
              payload: job.payload,
              attempts: 0,
              maxAttempts: job.maxAttempts ?? defaultMaxAttempts,
              priority: job.priority ?? 0,
              enqueuedAt: now,
            }),
          ),
        );
        return ids;
      } catch (err) {
        if (this.#connection.closed || Date.now() + pause > deadline) throw err;
      }
      await sleep(pause);
    }
  }

  async lease(queue: string, request: LeaseRequest): Promise<LeasedJob[]> {
    assertQueueName(queue);
    const max = Math.min(maxLeaseBatch, Math.max(1, Math.floor(request.max)));
    const deadline = Date.now() + Math.max(0, request.waitMs ?? 0);
    let pause = this.#pollMs;
    for (;;) {
      const jobs = await this.#take(queue, max, request.leaseMs);
      if (jobs.length > 0 || Date.now() >= deadline) return jobs;
      await sleep(Math.min(pause, Math.max(1, deadline - Date.now())));
      pause = Math.min(200, pause * 2);
    }
  }

  async extendLeases(leases: readonly JobLease[], leaseMs: number): Promise<string[]> {
    const generation = this.#connection.generation;
    const expiresAt = Date.now() + leaseMs;
    return leases.filter((l) => this.#leases.extend(l.id, l.token, generation, expiresAt)).map((l) => l.id);
  }

  async ack(leases: readonly JobLease[]): Promise<number> {
    const generation = this.#connection.generation;
    let acked = 0;
    for (const lease of leases) {
      const held = this.#leases.take(lease.id, lease.token, generation);
      if (held === undefined) continue;
      const channels = await this.#connection.channels();
      if (channels.generation !== held.generation) continue;
      channels.work.ack(held.raw);
      acked++;
    }
    return acked;
  }

  async nack(lease: JobLease, request: NackRequest): Promise<NackOutcome> {
    const held = this.#leases.take(lease.id, lease.token, this.#connection.generation);
    if (held === undefined) return 'stale';
    const { message } = held;
    if (request.retryable === false || message.attempts >= message.maxAttempts) {
      await this.#deadLetter(held, request.error);
      return 'dead';
    }
    const delayMs = request.delayMs ?? backoffDelay(message.attempts, this.#backoff);
    await this.#republish(held, Math.max(0, delayMs), {
      ...this.#outgoing(message),
      attempts: message.attempts,
    });
    return 'retried';
  }

  async reapExpiredLeases(): Promise<number> {
    for (const held of this.#leases.takeExpired(Date.now())) this.#track(this.#expire(held));
    await Promise.all([...this.#expiring]);
    const reaped = this.#expiredSinceReap;
    this.#expiredSinceReap = 0;
    return reaped;
  }

  async depth(queue: string): Promise<QueueDepth> {
    assertQueueName(queue);
    const channels = await this.#ready(queue);
    const names = queueNames(this.#prefix, queue);
    const count = async (name: string) => (await channels.publish.checkQueue(name)).messageCount;
    const delayed = await Promise.all(delayBuckets.map((bucket) => count(names.delay(bucket))));
    return {
      waiting: await count(names.work),
      delayed: delayed.reduce((a, b) => a + b, 0),
      leased: this.#leases.count(queue),
      dead: await count(names.dead),
    };
  }

  /**
   * Gets up to `limit` dead messages and returns them to the dead queue at once (nack with
   * requeue): AMQP cannot browse a queue, so listing briefly holds what it lists.
   */
  async deadJobs(queue: string, limit = 100): Promise<DeadJob[]> {
    assertQueueName(queue);
    const channels = await this.#ready(queue);
    const got = await this.#getAll(channels.work, queueNames(this.#prefix, queue).dead, limit);
    const dead: DeadJob[] = [];
    for (const raw of got) {
      const message = this.#tryDecode(raw);
      if (message !== undefined) {
        const { id, payload, error, failedAt } = message;
        dead.push({ id, queue, payload, attempts: message.attempts - 1, error, failedAt });
      }
      channels.work.nack(raw, false, true);
    }
    return dead;
  }

  async requeueDead(queue: string, id: string): Promise<boolean> {
    assertQueueName(queue);
    const channels = await this.#ready(queue);
    const names = queueNames(this.#prefix, queue);
    const got = await this.#getAll(channels.work, names.dead, maxDeadScan);
    let found = false;
    for (const raw of got) {
      const message = found ? undefined : this.#tryDecode(raw);
      if (message?.id === id) {
        found = true;
        await this.#publishJob(channels.publish, names, 0, { ...this.#outgoing(message), attempts: 0 });
        channels.work.ack(raw);
      } else {
        channels.work.nack(raw, false, true);
      }
    }
    return found;
  }

  /** RabbitMQ cannot find a message by id without consuming the queue: not offered. */
  async hasLiveJob(_queue: string, _id: string): Promise<boolean> {
    throw new InferqError(
      'INFERQ_CAPABILITY_UNSUPPORTED',
      'RabbitMQ cannot look a job up by id (capability liveJobLookup is false)',
      { details: { broker: 'rabbitmq', capability: 'liveJobLookup' } },
    );
  }

  async publish(channel: string, message: BroadcastMessage): Promise<void> {
    const { publish } = await this.#connection.channels();
    const exchange = await this.#exchange(publish, channel);
    await new Promise<void>((resolve, reject) => {
      publish.publish(exchange, '', Buffer.from(JSON.stringify(message)), {}, (err) =>
        err ? reject(err) : resolve(),
      );
    });
  }

  async subscribe(channel: string, handler: (message: BroadcastMessage) => void): Promise<Unsubscribe> {
    const subscription: Subscription = { channel, handler };
    this.#subscriptions.add(subscription);
    await this.#consume(await this.#connection.channels(), subscription);
    return async () => {
      if (!this.#subscriptions.delete(subscription)) return;
      const channels = await this.#connection.channels().catch(() => undefined);
      if (channels === undefined || subscription.consumerTag === undefined) return;
      await channels.work.cancel(subscription.consumerTag);
      if (subscription.queue !== undefined) await channels.work.deleteQueue(subscription.queue);
    };
  }

  async ping(): Promise<void> {
    const { publish } = await this.#connection.channels();
    // A cheap round trip: the default exchange always exists.
    await publish.checkExchange('amq.fanout');
  }

  async close(): Promise<void> {
    this.#leases.clear();
    await this.#connection.close();
  }

  /** @internal Destroys the TCP socket as a network failure would, for reconnect tests. */
  destroySocketForTesting(): void {
    this.#connection.destroySocket();
  }

  /** Every queue and exchange this handle declared (for test teardown). */
  declaredNames(): { queues: string[]; exchanges: string[] } {
    return { queues: [...this.#declared.queues], exchanges: [...this.#declared.exchanges] };
  }

  /** Deletes the named queues and exchanges, messages included (test teardown and tooling). */
  async deleteNames(names: { queues: readonly string[]; exchanges: readonly string[] }): Promise<void> {
    const { publish } = await this.#connection.channels();
    for (const queue of names.queues) await publish.deleteQueue(queue);
    for (const exchange of names.exchanges) await publish.deleteExchange(exchange);
  }

  async #take(queue: string, max: number, leaseMs: number): Promise<LeasedJob[]> {
    const channels = await this.#ready(queue);
    const names = queueNames(this.#prefix, queue);
    const jobs: LeasedJob[] = [];
    while (jobs.length < max) {
      const raw = await channels.work.get(names.work, { noAck: false });
      if (raw === false) break;
      const message = this.#tryDecode(raw);
      const token = newLeaseToken();
      const expiresAt = Date.now() + leaseMs;
      const held = { token, queue, raw, generation: channels.generation, expiresAt };
      if (message === undefined) {
        await this.#deadLetterRaw(channels, names, raw);
        continue;
      }
      if (message.notBefore - Date.now() > dueToleranceMs) {
        // A delay longer than the longest bucket: another trip through it.
        await this.#republish(held, message.notBefore - Date.now(), {
          ...this.#outgoing(message),
          attempts: message.attempts - 1,
          notBefore: message.notBefore,
        });
        continue;
      }
      this.#leases.add({ ...held, message });
      const { id, payload, attempts, maxAttempts, priority, enqueuedAt } = message;
      jobs.push({
        id,
        queue,
        payload,
        priority,
        attempts,
        maxAttempts,
        enqueuedAt,
        token,
        leaseExpiresAt: expiresAt,
      });
    }
    return jobs;
  }

  /** A lease ran out: back to the queue (RabbitMQ counts the delivery), or dead when out of attempts. */
  async #expire(held: HeldLease): Promise<void> {
    const channels = await this.#connection.channels().catch(() => undefined);
    if (channels === undefined || channels.generation !== held.generation) return;
    this.#expiredSinceReap++;
    if (held.message.attempts >= held.message.maxAttempts) {
      await this.#deadLetter(held, 'lease expired');
    } else {
      channels.work.nack(held.raw, false, true);
    }
  }

  #track(work: Promise<void>): void {
    const tracked = work.catch(() => undefined).finally(() => this.#expiring.delete(tracked));
    this.#expiring.add(tracked);
  }

  async #deadLetter(held: HeldLease, error: string): Promise<void> {
    const channels = await this.#connection.channels();
    if (channels.generation !== held.generation) return;
    const names = queueNames(this.#prefix, held.queue);
    const { body, options } = encode({
      ...this.#outgoing(held.message),
      attempts: held.message.attempts,
      error,
      failedAt: Date.now(),
    });
    await confirmSend(channels.publish, names.dead, body, options);
    channels.work.ack(held.raw);
  }

  /** A message that is not inferq's JSON goes to the dead queue as it is. */
  async #deadLetterRaw(channels: AmqpChannels, names: QueueNames, raw: GetMessage): Promise<void> {
    await confirmSend(channels.publish, names.dead, raw.content, {
      ...raw.properties,
      headers: { ...raw.properties.headers, 'x-inferq-error': 'malformed message (body is not JSON)' },
    } as Options.Publish);
    channels.work.ack(raw);
  }

  /** Publishes the job anew (after `delayMs`), then acks the held delivery. */
  async #republish(
    held: Pick<HeldLease, 'queue' | 'raw' | 'generation'>,
    delayMs: number,
    next: OutgoingMessage,
  ) {
    const channels = await this.#connection.channels();
    if (channels.generation !== held.generation) return;
    await this.#publishJob(channels.publish, queueNames(this.#prefix, held.queue), delayMs, next);
    channels.work.ack(held.raw);
  }

  async #publishJob(publish: ConfirmChannel, names: QueueNames, delayMs: number, message: OutgoingMessage) {
    if (delayMs <= 0) {
      const { body, options } = encode({ ...message, notBefore: undefined });
      return confirmSend(publish, names.work, body, options);
    }
    const bucket = delayBucket(delayMs);
    const notBefore = delayMs > bucket ? Date.now() + delayMs : undefined;
    const { body, options } = encode({ ...message, notBefore });
    return confirmSend(publish, names.delay(bucket), body, options);
  }

  #outgoing(message: DecodedMessage): OutgoingMessage {
    const { id, payload, maxAttempts, priority, enqueuedAt } = message;
    return { id, payload, attempts: message.attempts, maxAttempts, priority, enqueuedAt };
  }

  #tryDecode(raw: GetMessage): DecodedMessage | undefined {
    try {
      return decode(raw.content, raw.properties.messageId, raw.properties.headers);
    } catch {
      return undefined;
    }
  }

  async #getAll(channel: Channel, queue: string, limit: number): Promise<GetMessage[]> {
    const got: GetMessage[] = [];
    while (got.length < limit) {
      const raw = await channel.get(queue, { noAck: false });
      if (raw === false) break;
      got.push(raw);
    }
    return got;
  }

  /** The live channels, with the queue's topology declared on this connection. */
  async #ready(queue: string): Promise<AmqpChannels> {
    const channels = await this.#connection.channels();
    if (this.#asserted.has(queue)) return channels;
    const names = queueNames(this.#prefix, queue);
    const declare = async (name: string, args: Record<string, unknown>) => {
      await channels.publish.assertQueue(name, { durable: true, arguments: args });
      this.#declared.queues.add(name);
    };
    await declare(names.work, quorumArguments);
    await declare(names.dead, quorumArguments);
    await Promise.all(delayBuckets.map((b) => declare(names.delay(b), delayArguments(names.work, b))));
    this.#asserted.add(queue);
    return channels;
  }

  async #exchange(channel: Channel, name: string): Promise<string> {
    const exchange = broadcastExchange(this.#prefix, name);
    await channel.assertExchange(exchange, 'fanout', { durable: true });
    this.#declared.exchanges.add(exchange);
    return exchange;
  }

  /** An exclusive, auto-deleted queue per subscriber, bound to the channel's fanout exchange. */
  async #consume(channels: AmqpChannels, subscription: Subscription): Promise<void> {
    const { work } = channels;
    const exchange = await this.#exchange(work, subscription.channel);
    const { queue } = await work.assertQueue('', { exclusive: true, autoDelete: true, durable: false });
    await work.bindQueue(queue, exchange, '');
    const { consumerTag } = await work.consume(
      queue,
      (raw) => {
        if (raw === null || !this.#subscriptions.has(subscription)) return;
        try {
          subscription.handler(JSON.parse(raw.content.toString('utf8')) as BroadcastMessage);
        } catch {
          // A malformed broadcast or a throwing handler must not break the consumer.
        }
      },
      { noAck: true },
    );
    subscription.queue = queue;
    subscription.consumerTag = consumerTag;
  }

  async #resubscribe(channels: AmqpChannels): Promise<void> {
    for (const subscription of this.#subscriptions) await this.#consume(channels, subscription);
  }
}

/** Sends with a publisher confirm: resolves once RabbitMQ has the message (durably, for persistent ones). */
function confirmSend(
  channel: ConfirmChannel,
  queue: string,
  body: Buffer,
  options: Options.Publish,
): Promise<void> {
  return new Promise((resolve, reject) => {
    channel.sendToQueue(queue, body, options, (err) => (err ? reject(err) : resolve()));
  });
}
