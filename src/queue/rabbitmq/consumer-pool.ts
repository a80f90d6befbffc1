import { InferqError } from '../../errors/index.js';
import type { AmqpConnection } from './amqp-connection.js';
import type { DeclaredTopology } from './declared-topology.js';
import type { LeaseTable } from './lease-table.js';
import { QueueConsumer } from './queue-consumer.js';
import { queueNames } from './topology.js';

/** The most jobs one lease call takes. */
export const maxLeaseBatch = 1_000;
/** The largest prefetch window a queue's consumer is given. */
const maxWindow = 4 * maxLeaseBatch;
/**
 * The default window is this many times the largest lease batch (Celery's prefetch multiplier
 * is 4 too). Measured on RabbitMQ 3.10: a consumer that acks in batches of half its window gets
 * a fraction of the deliveries of one whose window is four batches (7k vs 21k messages/s).
 */
const windowPerLease = 4;

/** A queue's consumer on one connection generation (opening it takes a round trip). */
interface ConsumerEntry {
  generation: number;
  opening: Promise<QueueConsumer>;
  consumer?: QueueConsumer;
}

export interface ConsumerPoolOptions {
  connection: AmqpConnection;
  topology: DeclaredTopology;
  /** This instance's leases: they count against a queue's window. */
  leases: LeaseTable;
  prefix: string;
  /** A fixed window for every queue; undefined sizes it from the lease calls (see the class comment). */
  prefetch: number | undefined;
  /** A consumer that no lease call used for this long is retired. */
  idleMs: number;
  /** Cancels a consumer and gives its buffered messages back (when idle, and on `close`). */
  retire: (queue: string, consumer: QueueConsumer) => Promise<void>;
}

/**
 * The {@link QueueConsumer} of each work queue this instance leases from, on the live connection,
 * and the prefetch window it consumes with.
 *
 * The window (`prefetch`) counts leased and buffered messages alike, so a worker holds at most
 * its window. By default it is four times the largest `max` asked for on the queue, grown to
 * `leased + 4 × max` when a lease call finds it full of leases (more lease loops than it was
 * sized for); a larger window restarts the consumer.
 */
export class ConsumerPool {
  /** Each leased queue's consumer on the current connection. */
  readonly #consumers = new Map<string, ConsumerEntry>();
  /** Each leased queue's prefetch window: it only grows, and outlives reconnects. */
  readonly #windows = new Map<string, number>();
  #closing = false;

  constructor(private readonly options: ConsumerPoolOptions) {}

  /** The queue's consumer on the live connection, consuming with a window for `max`. */
  async get(queue: string, max: number): Promise<{ consumer: QueueConsumer; started: boolean }> {
    if (this.#closing) throw new InferqError('INFERQ_BROKER_UNAVAILABLE', 'the RabbitMQ broker is closed');
    const { connection, topology, prefix, idleMs, retire } = this.options;
    const channels = await topology.ready(queue);
    let entry = this.#consumers.get(queue);
    if (entry === undefined || entry.generation !== channels.generation) {
      const opened: ConsumerEntry = {
        generation: channels.generation,
        opening: connection.openChannel(channels.generation).then(
          (channel) => {
            opened.consumer = new QueueConsumer({
              channel,
              queue: queueNames(prefix, queue).work,
              generation: channels.generation,
              idleMs,
              onIdle: (idle) => void retire(queue, idle).catch(() => undefined),
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

  /** How many messages the queue's consumer holds unleased. */
  buffered(queue: string): number {
    return this.#consumers.get(queue)?.consumer?.buffered ?? 0;
  }

  /** The connection is gone, and every consumer with it (RabbitMQ requeues their buffers). */
  lost(): void {
    for (const entry of this.#consumers.values()) entry.consumer?.lost();
    this.#consumers.clear();
  }

  /** Retires every consumer (their buffers go back); `get` refuses from now on. */
  async close(): Promise<void> {
    this.#closing = true;
    const entries = [...this.#consumers.entries()];
    this.#consumers.clear();
    await Promise.all(
      entries.map(async ([queue, entry]) => {
        const consumer = await entry.opening.catch(() => undefined);
        if (consumer !== undefined) await this.options.retire(queue, consumer).catch(() => undefined);
      }),
    );
  }

  /**
   * The prefetch window for a lease of `max`: four times the largest `max`, and
   * `leased + 4 × max` once this instance's leases fill the window (lease loops hold leases while
   * another asks).
   */
  #window(queue: string, consumer: QueueConsumer, max: number): number {
    if (this.options.prefetch !== undefined) return this.options.prefetch;
    const current = this.#windows.get(queue) ?? 0;
    const leased = this.options.leases.count(queue);
    const full = consumer.prefetch > 0 && leased >= consumer.prefetch;
    const wanted = Math.max(current, windowPerLease * max, full ? leased + windowPerLease * max : 0);
    const window = Math.min(maxWindow, wanted);
    this.#windows.set(queue, window);
    return window;
  }
}
