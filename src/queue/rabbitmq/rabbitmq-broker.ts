import { setTimeout as sleep } from 'node:timers/promises';
import type { Channel, ConfirmChannel, GetMessage, Message, Options } from 'amqplib';
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
import { QueueConsumer } from './queue-consumer.js';
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
  /**
   * How many unacked messages (leased or buffered) one queue's consumer may hold. Default:
   * four times the largest `max` a lease call asked for, grown when lease calls fill it with
   * their leases (see the class comment).
   */
  prefetch?: number;
  /**
   * A queue's consumer that no lease call used for this long is cancelled and its buffer given
   * back. Default 2 s.
   */
  consumerIdleMs?: number;
  /**
   * How often a long-polling `lease` asks RabbitMQ again while its consumer's window is full of
   * leases (no delivery can come). Default 25 ms, growing to 200 ms.
   */
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
/** The largest prefetch window a queue's consumer is given. */
const maxWindow = 4 * maxLeaseBatch;
/**
 * The default window is this many times the largest lease batch (Celery's prefetch multiplier
 * is 4 too). Measured on RabbitMQ 3.10: a consumer that acks in batches of half its window gets
 * a fraction of the deliveries of one whose window is four batches (7k vs 21k messages/s).
 */
const windowPerLease = 4;
/** A job whose not-before time is this close is due: not worth another trip through a bucket. */
const dueToleranceMs = 20;
/** requeueDead looks at no more than this many dead messages. */
const maxDeadScan = 10_000;

/** A queue's consumer on one connection generation (opening it takes a round trip). */
interface ConsumerEntry {
  generation: number;
  opening: Promise<QueueConsumer>;
  consumer?: QueueConsumer;
}

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
 * Leasing goes through a consumer, not a `basic.get` per message. Each work queue this instance
 * leases from has a `basic.consume` (manual ack) on a channel of its own ({@link QueueConsumer}):
 * RabbitMQ pushes up to a prefetch window of messages, which wait in a local buffer until a lease
 * call takes them. A lease is a taken message given a token and a timer ({@link LeaseTable}); when
 * the timer fires the message is nacked back (requeued), and RabbitMQ's `x-delivery-count` counts
 * the attempt. Retries and dead-lettering are decided here: the message is republished (to a
 * delay queue, the work queue or the dead queue, with confirms) and then acked, so a crash in
 * between duplicates a job rather than losing it. Acks go one delivery tag at a time: an ack
 * with `multiple` would also ack the buffered messages below the tag.
 *
 * The window (`prefetch`) counts leased and buffered messages alike, so a worker holds at most
 * its window. By default it is four times the largest `max` asked for on the queue, grown to
 * `leased + 4 × max` when a lease call finds it full of leases (more lease loops than it was
 * sized for); a larger window restarts the consumer. A long poll that finds the buffer empty
 * waits for a delivery. `basic.get` on the consumer's channel is kept for three cases: a lease
 * with `waitMs: 0` that finds the buffer empty, a consumer just (re)started, and a window full
 * of leases (no delivery can come; polled 25 → 200 ms). RabbitMQ answers a `get` after every
 * delivery it sent the channel before, so besides fetching what the window could not take, it
 * shows that the buffer holds all that was ready: `waitMs: 0` still returns what is ready, oldest
 * first (delivery-tag order).
 *
 * Buffered messages are not leased: no token, no timer, no attempt. They are unacked, though,
 * and other workers cannot see them, so a consumer that no lease call used for `consumerIdleMs`
 * is cancelled and its buffer given back, as every buffer is on `close`. Given back means
 * republished with the attempts it had, then acked: a nack would count a delivery (a quorum queue
 * counts every return, consumer cancels and channel closes included) and cost the job a retry.
 * Such a message therefore goes to the back of the queue. A lost connection gives nothing back:
 * RabbitMQ requeues its buffered messages itself and counts one delivery each.
 *
 * Leases and buffers live in this process only: `depth().waiting` is the queue's ready count
 * plus this instance's buffer, `depth().leased` counts this instance's leases, and both are gone
 * with a lost connection (RabbitMQ redelivers those messages itself).
 */
export class RabbitMqBroker implements Broker {
  readonly kind = 'rabbitmq';
  readonly capabilities = capabilities;

  readonly #prefix: string;
  readonly #backoff: BackoffPolicy;
  readonly #pollMs: number;
  readonly #enqueueRetryMs: number;
  readonly #prefetch: number | undefined;
  readonly #consumerIdleMs: number;
  readonly #leases: LeaseTable;
  /** Each leased queue's consumer on the current connection. */
  readonly #consumers = new Map<string, ConsumerEntry>();
  /** Each leased queue's prefetch window: it only grows, and outlives reconnects. */
  readonly #windows = new Map<string, number>();
  readonly #subscriptions = new Set<Subscription>();
  /** Queues declared on the current connection (redeclared after a reconnect). */
  readonly #asserted = new Set<string>();
  readonly #declared = { queues: new Set<string>(), exchanges: new Set<string>() };
  readonly #expiring = new Set<Promise<void>>();
  #expiredSinceReap = 0;
  #closing = false;
  #connection!: AmqpConnection;

  private constructor(options: RabbitMqBrokerOptions) {
    this.#prefix = options.prefix ?? 'inferq';
    this.#backoff = options.backoff ?? defaultBackoff;
    this.#pollMs = options.pollIntervalMs ?? 25;
    this.#enqueueRetryMs = options.enqueueRetryMs ?? 60_000;
    this.#prefetch = options.prefetch === undefined ? undefined : Math.max(1, Math.floor(options.prefetch));
    this.#consumerIdleMs = options.consumerIdleMs ?? 2_000;
    this.#leases = new LeaseTable((held) => this.#track(this.#expire(held)));
  }

  static async open(url: string, options: RabbitMqBrokerOptions = {}): Promise<RabbitMqBroker> {
    const broker = new RabbitMqBroker(options);
    broker.#connection = await AmqpConnection.open(url, {
      reconnectWaitMs: options.reconnectWaitMs ?? 10_000,
      onLost: () => {
        broker.#leases.clear();
        broker.#asserted.clear();
        for (const entry of broker.#consumers.values()) entry.consumer?.lost();
        broker.#consumers.clear();
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
    const waitMs = Math.max(0, request.waitMs ?? 0);
    const deadline = Date.now() + waitMs;
    let pause = this.#pollMs;
    for (let first = true; ; first = false) {
      const { consumer, started } = await this.#consumer(queue, max);
      consumer.begin();
      try {
        // Full of leases: nothing more will be delivered, only `get` can find work. Otherwise a
        // long poll waits for deliveries, and `get` only answers a poll that cannot wait.
        const full = this.#leases.count(queue) >= consumer.prefetch;
        const jobs = await this.#take(queue, consumer, max, request.leaseMs, {
          get: full || started || (first && waitMs === 0),
          fill: started,
        });
        if (jobs.length > 0 || Date.now() >= deadline) return jobs;
        const left = Math.max(1, deadline - Date.now());
        if (full) {
          await sleep(Math.min(pause, left));
          pause = Math.min(200, pause * 2);
        } else {
          await consumer.delivery(left);
        }
      } finally {
        consumer.end();
      }
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
      try {
        held.channel.ack(held.raw);
        acked++;
      } catch {
        // The channel closed a moment ago: RabbitMQ delivers the job again.
      }
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
      waiting: (await count(names.work)) + (this.#consumers.get(queue)?.consumer?.buffered ?? 0),
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

  /** Gives every buffered message back (see the class comment), then closes the connection. */
  async close(): Promise<void> {
    this.#closing = true;
    const entries = [...this.#consumers.entries()];
    this.#consumers.clear();
    await Promise.all(
      entries.map(async ([queue, entry]) => {
        const consumer = await entry.opening.catch(() => undefined);
        if (consumer !== undefined) await this.#retire(queue, consumer).catch(() => undefined);
      }),
    );
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

  /**
   * Leases up to `max` buffered messages. With `get`, when that finds none (or, with `fill`, any
   * fewer than `max`: the consumer has just started and may still be receiving), `basic.get`s,
   * one at a time, fetch more until RabbitMQ has nothing ready (see the class comment).
   */
  async #take(
    queue: string,
    consumer: QueueConsumer,
    max: number,
    leaseMs: number,
    mode: { get: boolean; fill: boolean },
  ): Promise<LeasedJob[]> {
    const jobs: LeasedJob[] = [];
    // Leasing a message is synchronous; only the odd one (malformed, not due) needs a publish.
    const detours: Promise<void>[] = [];
    const drain = () => {
      for (const raw of consumer.take(max - jobs.length)) {
        const job = this.#leaseOne(queue, consumer, raw, leaseMs, detours);
        if (job !== undefined) jobs.push(job);
      }
    };
    drain();
    if (mode.get && (jobs.length === 0 || mode.fill)) {
      while (jobs.length < max) {
        const got = await consumer.get();
        drain();
        if (!got) break;
      }
    }
    await Promise.all(detours);
    return jobs;
  }

  /**
   * A delivered message becomes a lease; a malformed one goes to the dead queue and one not due
   * yet through a delay queue again, their publishes added to `detours`.
   */
  #leaseOne(
    queue: string,
    consumer: QueueConsumer,
    raw: Message,
    leaseMs: number,
    detours: Promise<void>[],
  ): LeasedJob | undefined {
    const { channel, generation } = consumer;
    // A detour that fails must not strand its message unacked: back to the queue (a delivery).
    const requeue = () => {
      try {
        channel.nack(raw, false, true);
      } catch {
        // The channel is gone: RabbitMQ requeues the message itself.
      }
    };
    const message = this.#tryDecode(raw);
    if (message === undefined) {
      detours.push(this.#deadLetterRaw(queue, channel, raw).catch(requeue));
      return undefined;
    }
    const now = Date.now();
    if (message.notBefore - now > dueToleranceMs) {
      // A delay longer than the longest bucket: another trip through it.
      const next = { ...this.#outgoing(message), attempts: message.attempts - 1 };
      const held = { queue, raw, channel, generation };
      detours.push(this.#republish(held, message.notBefore - now, next).catch(requeue));
      return undefined;
    }
    const token = newLeaseToken();
    const expiresAt = now + leaseMs;
    this.#leases.add({ token, queue, message, raw, channel, generation, expiresAt });
    const { id, payload, attempts, maxAttempts, priority, enqueuedAt } = message;
    return {
      id,
      queue,
      payload,
      priority,
      attempts,
      maxAttempts,
      enqueuedAt,
      token,
      leaseExpiresAt: expiresAt,
    };
  }

  /** The queue's consumer on the live connection, consuming with a window for `max`. */
  async #consumer(queue: string, max: number): Promise<{ consumer: QueueConsumer; started: boolean }> {
    if (this.#closing) throw new InferqError('INFERQ_BROKER_UNAVAILABLE', 'the RabbitMQ broker is closed');
    const channels = await this.#ready(queue);
    let entry = this.#consumers.get(queue);
    if (entry === undefined || entry.generation !== channels.generation) {
      const opened: ConsumerEntry = {
        generation: channels.generation,
        opening: this.#connection.openChannel(channels.generation).then(
          (channel) => {
            opened.consumer = new QueueConsumer({
              channel,
              queue: queueNames(this.#prefix, queue).work,
              generation: channels.generation,
              idleMs: this.#consumerIdleMs,
              onIdle: (idle) => void this.#retire(queue, idle).catch(() => undefined),
            });
            return opened.consumer;
          },
          (err: unknown) => {
            if (this.#consumers.get(queue) === opened) this.#consumers.delete(queue);
            throw err;
          },
        ),
      };
      entry = opened;
      this.#consumers.set(queue, entry);
    }
    const consumer = await entry.opening;
    return { consumer, started: await consumer.consume(this.#window(queue, consumer, max)) };
  }

  /**
   * The prefetch window for a lease of `max`: four times the largest `max`, and
   * `leased + 4 × max` once this instance's leases fill the window (lease loops hold leases while
   * another asks).
   */
  #window(queue: string, consumer: QueueConsumer, max: number): number {
    if (this.#prefetch !== undefined) return this.#prefetch;
    const current = this.#windows.get(queue) ?? 0;
    const leased = this.#leases.count(queue);
    const full = consumer.prefetch > 0 && leased >= consumer.prefetch;
    const wanted = Math.max(current, windowPerLease * max, full ? leased + windowPerLease * max : 0);
    const window = Math.min(maxWindow, wanted);
    this.#windows.set(queue, window);
    return window;
  }

  /** Cancels the queue's consumer and gives its buffered messages back. */
  async #retire(queue: string, consumer: QueueConsumer): Promise<void> {
    const unleased = await consumer.cancel();
    await Promise.all(unleased.map((raw) => this.#giveBack(queue, consumer, raw)));
  }

  /**
   * Returns a buffered message to its queue without counting an attempt: republished with the
   * attempts it had and its not-before time, then acked (a nack would count a delivery).
   */
  async #giveBack(queue: string, consumer: QueueConsumer, raw: Message): Promise<void> {
    const { channel, generation } = consumer;
    const message = this.#tryDecode(raw);
    if (message === undefined) {
      // Not inferq's: its next lease dead-letters it, attempts do not matter.
      channel.nack(raw, false, true);
      return;
    }
    await this.#republish({ queue, raw, channel, generation }, Math.max(0, message.notBefore - Date.now()), {
      ...this.#outgoing(message),
      attempts: message.attempts - 1,
    });
  }

  /** A lease ran out: back to the queue (RabbitMQ counts the delivery), or dead when out of attempts. */
  async #expire(held: HeldLease): Promise<void> {
    const channels = await this.#connection.channels().catch(() => undefined);
    if (channels === undefined || channels.generation !== held.generation) return;
    this.#expiredSinceReap++;
    if (held.message.attempts >= held.message.maxAttempts) {
      await this.#deadLetter(held, 'lease expired');
    } else {
      held.channel.nack(held.raw, false, true);
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
    held.channel.ack(held.raw);
  }

  /** A message that is not inferq's JSON goes to the dead queue as it is. */
  async #deadLetterRaw(queue: string, channel: Channel, raw: Message): Promise<void> {
    const { publish } = await this.#connection.channels();
    await confirmSend(publish, queueNames(this.#prefix, queue).dead, raw.content, {
      ...raw.properties,
      headers: { ...raw.properties.headers, 'x-inferq-error': 'malformed message (body is not JSON)' },
    } as Options.Publish);
    channel.ack(raw);
  }

  /** Publishes the job anew (after `delayMs`), then acks the held delivery. */
  async #republish(
    held: Pick<HeldLease, 'queue' | 'raw' | 'channel' | 'generation'>,
    delayMs: number,
    next: OutgoingMessage,
  ) {
    const channels = await this.#connection.channels();
    if (channels.generation !== held.generation) return;
    await this.#publishJob(channels.publish, queueNames(this.#prefix, held.queue), delayMs, next);
    held.channel.ack(held.raw);
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

  #tryDecode(raw: Message): DecodedMessage | undefined {
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
