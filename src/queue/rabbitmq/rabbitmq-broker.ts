import { setTimeout as sleep } from 'node:timers/promises';
import { type BackoffPolicy, backoffDelay, defaultBackoff } from '../../core/backoff.js';
import { newId } from '../../core/ids.js';
import {
  assertQueueName,
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
import { AmqpConnection } from './amqp-connection.js';
import { ConsumerLeasing } from './consumer-leasing.js';
import { ConsumerPool } from './consumer-pool.js';
import { listDeadJobs, requeueDeadJob } from './dead-letters.js';
import { DeclaredTopology } from './declared-topology.js';
import { JobPublisher } from './job-publisher.js';
import { type HeldLease, LeaseTable } from './lease-table.js';
import { outgoing } from './message.js';
import { RabbitMqBroadcast } from './rabbitmq-broadcast.js';
import { delayBuckets, queueNames } from './topology.js';

export interface RabbitMqBrokerOptions {
  /** Prefix of every queue and exchange name (default `inferq`); tests use one per broker. */
  prefix?: string;
  backoff?: BackoffPolicy;
  /**
   * How many unacked messages (leased or buffered) one queue's consumer may hold. Default:
   * four times the largest `max` a lease call asked for, grown when lease calls fill it with
   * their leases (see {@link ConsumerPool}).
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

/** Each false capability's reason is in `missingCapabilities` below. */
const capabilities: BrokerCapabilities = Object.freeze({
  priorities: false,
  delayedJobs: true,
  dedupeById: false,
  deadLetterInspection: true,
  broadcast: true,
  distributed: true,
  liveJobLookup: false,
  fairShares: false,
});

const missingCapabilities = Object.freeze({
  priorities: 'quorum queues have no message priorities (x-max-priority is a classic-queue feature)',
  dedupeById: 'RabbitMQ cannot look a message up by id, so an enqueue cannot know the id is live',
  liveJobLookup: 'RabbitMQ cannot look a message up by id (see hasLiveJob)',
  fairShares:
    "one quorum queue per inferq queue delivers every tenant's messages in one FIFO line. Turns need a " +
    'quorum queue per (queue, tenant) consumed in turn: consumers finding tenant queues without the ' +
    'management API (e.g. a stream of announcements read from its start), delayed retries routed back ' +
    'to the tenant queue (delay queues dead-letter to one fixed queue), a consumer window per tenant ' +
    'queue, and turns kept per process (RabbitMQ holds no shared tags); not built',
});

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
 * with `multiple` would also ack the buffered messages below the tag. How the window is sized is
 * {@link ConsumerPool}'s; when a lease falls back on `basic.get`, and how buffered messages are
 * given back, {@link ConsumerLeasing}'s.
 *
 * Leases and buffers live in this process only: `depth().waiting` is the queue's ready count
 * plus this instance's buffer, `depth().leased` counts this instance's leases, and both are gone
 * with a lost connection (RabbitMQ redelivers those messages itself).
 */
export class RabbitMqBroker implements Broker {
  readonly kind = 'rabbitmq';
  readonly capabilities = capabilities;
  readonly missingCapabilities = missingCapabilities;

  readonly #prefix: string;
  readonly #backoff: BackoffPolicy;
  readonly #enqueueRetryMs: number;
  readonly #connection: AmqpConnection;
  readonly #topology: DeclaredTopology;
  readonly #publisher: JobPublisher;
  readonly #leases: LeaseTable;
  readonly #consumers: ConsumerPool;
  readonly #leasing: ConsumerLeasing;
  readonly #broadcast: RabbitMqBroadcast;
  readonly #expiring = new Set<Promise<void>>();
  #expiredSinceReap = 0;

  private constructor(connection: AmqpConnection, options: RabbitMqBrokerOptions) {
    this.#prefix = options.prefix ?? 'inferq';
    this.#backoff = options.backoff ?? defaultBackoff;
    this.#enqueueRetryMs = options.enqueueRetryMs ?? 60_000;
    this.#connection = connection;
    this.#topology = new DeclaredTopology(connection, this.#prefix);
    this.#publisher = new JobPublisher(connection, this.#prefix);
    this.#leases = new LeaseTable((held) => this.#track(this.#expire(held)));
    this.#consumers = new ConsumerPool({
      connection,
      topology: this.#topology,
      leases: this.#leases,
      prefix: this.#prefix,
      prefetch: options.prefetch === undefined ? undefined : Math.max(1, Math.floor(options.prefetch)),
      idleMs: options.consumerIdleMs ?? 2_000,
      retire: (queue, consumer) => this.#leasing.retire(queue, consumer),
    });
    this.#leasing = new ConsumerLeasing({
      consumers: this.#consumers,
      leases: this.#leases,
      publisher: this.#publisher,
      pollMs: options.pollIntervalMs ?? 25,
    });
    this.#broadcast = new RabbitMqBroadcast(connection, this.#topology);
  }

  static async open(url: string, options: RabbitMqBrokerOptions = {}): Promise<RabbitMqBroker> {
    // The connection's callbacks need the broker, and the broker needs the connection.
    let broker: RabbitMqBroker | undefined;
    const connection = await AmqpConnection.open(url, {
      reconnectWaitMs: options.reconnectWaitMs ?? 10_000,
      onLost: () => {
        if (broker === undefined) return;
        broker.#leases.clear();
        broker.#topology.lost();
        broker.#consumers.lost();
      },
      onReconnect: async (channels) => {
        if (broker !== undefined) await broker.#broadcast.resubscribe(channels);
      },
    });
    broker = new RabbitMqBroker(connection, options);
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
        const channels = await this.#topology.ready(queue);
        await Promise.all(
          jobs.map((job, i) =>
            this.#publisher.publish(channels.publish, names, Math.max(0, job.delayMs ?? 0), {
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
    return this.#leasing.lease(queue, request);
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
      await this.#publisher.deadLetter(held, request.error);
      return 'dead';
    }
    const delayMs = request.delayMs ?? backoffDelay(message.attempts, this.#backoff);
    await this.#publisher.republish(held, Math.max(0, delayMs), outgoing(message));
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
    const channels = await this.#topology.ready(queue);
    const names = queueNames(this.#prefix, queue);
    const count = async (name: string) => (await channels.publish.checkQueue(name)).messageCount;
    const delayed = await Promise.all(delayBuckets.map((bucket) => count(names.delay(bucket))));
    return {
      waiting: (await count(names.work)) + this.#consumers.buffered(queue),
      delayed: delayed.reduce((a, b) => a + b, 0),
      leased: this.#leases.count(queue),
      dead: await count(names.dead),
    };
  }

  async deadJobs(queue: string, limit = 100): Promise<DeadJob[]> {
    assertQueueName(queue);
    const channels = await this.#topology.ready(queue);
    return listDeadJobs(channels, queueNames(this.#prefix, queue), queue, limit);
  }

  async requeueDead(queue: string, id: string): Promise<boolean> {
    assertQueueName(queue);
    const channels = await this.#topology.ready(queue);
    return requeueDeadJob(channels, queueNames(this.#prefix, queue), id, this.#publisher);
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
    await this.#broadcast.publish(channel, message);
  }

  async subscribe(channel: string, handler: (message: BroadcastMessage) => void): Promise<Unsubscribe> {
    return this.#broadcast.subscribe(channel, handler);
  }

  async ping(): Promise<void> {
    const { publish } = await this.#connection.channels();
    // A cheap round trip: the default exchange always exists.
    await publish.checkExchange('amq.fanout');
  }

  /** Gives every buffered message back (see {@link ConsumerLeasing}), then closes the connection. */
  async close(): Promise<void> {
    await this.#consumers.close();
    this.#leases.clear();
    await this.#connection.close();
  }

  /** @internal Destroys the TCP socket as a network failure would, for reconnect tests. */
  destroySocketForTesting(): void {
    this.#connection.destroySocket();
  }

  /** Every queue and exchange this handle declared (for test teardown). */
  declaredNames(): { queues: string[]; exchanges: string[] } {
    return this.#topology.names();
  }

  /** Deletes the named queues and exchanges, messages included (test teardown and tooling). */
  async deleteNames(names: { queues: readonly string[]; exchanges: readonly string[] }): Promise<void> {
    await this.#topology.delete(names);
  }

  /** A lease ran out: back to the queue (RabbitMQ counts the delivery), or dead when out of attempts. */
  async #expire(held: HeldLease): Promise<void> {
    const channels = await this.#connection.channels().catch(() => undefined);
    if (channels === undefined || channels.generation !== held.generation) return;
    this.#expiredSinceReap++;
    if (held.message.attempts >= held.message.maxAttempts) {
      await this.#publisher.deadLetter(held, 'lease expired');
    } else {
      held.channel.nack(held.raw, false, true);
    }
  }

  #track(work: Promise<void>): void {
    const tracked = work.catch(() => undefined).finally(() => this.#expiring.delete(tracked));
    this.#expiring.add(tracked);
  }
}
