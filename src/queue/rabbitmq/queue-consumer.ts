import type { Channel, Message } from 'amqplib';

export interface QueueConsumerOptions {
  /** A channel of this consumer's own: the prefetch window is per channel consumer. */
  channel: Channel;
  /** The RabbitMQ work queue. */
  queue: string;
  /** The connection generation the channel belongs to. */
  generation: number;
  /** After this long without a lease call the consumer is idle (see `onIdle`). */
  idleMs: number;
  /** Told once the consumer has been idle for `idleMs`; the broker cancels it then. */
  onIdle: (consumer: QueueConsumer) => void;
}

/**
 * One work queue's `basic.consume`, with a prefetch window, on a channel of its own. RabbitMQ
 * pushes up to `prefetch` unacked messages (leased ones included) and they wait here, in
 * delivery order, until a lease call takes them: the buffer is what makes a lease a local
 * operation instead of a `basic.get` round trip per message.
 *
 * A buffered message is not leased: it has no token, no timer and no attempt. RabbitMQ counts it
 * as unacked, though, so other consumers cannot see it; the broker therefore cancels a consumer
 * that no lease call has used for `idleMs` and gives its buffer back (see `cancel`).
 */
export class QueueConsumer {
  readonly channel: Channel;
  readonly generation: number;
  readonly #queue: string;
  readonly #idleMs: number;
  readonly #onIdle: (consumer: QueueConsumer) => void;
  /** Delivered, not leased yet; ascending delivery tags (the order RabbitMQ handed them out). */
  #buffer: Message[] = [];
  #live: { tag: string } | undefined;
  #prefetch = 0;
  /** consume and cancel one at a time: a restart must not interleave with another. */
  #serial: Promise<unknown> = Promise.resolve();
  readonly #waiters = new Set<() => void>();
  #busy = 0;
  #idleTimer: NodeJS.Timeout | undefined;
  #gone = false;

  constructor(options: QueueConsumerOptions) {
    this.channel = options.channel;
    this.generation = options.generation;
    this.#queue = options.queue;
    this.#idleMs = options.idleMs;
    this.#onIdle = options.onIdle;
  }

  /** The window the live consumer was started with; 0 while cancelled. */
  get prefetch(): number {
    return this.#live === undefined ? 0 : this.#prefetch;
  }

  get buffered(): number {
    return this.#buffer.length;
  }

  /**
   * Consumes with a window of at least `prefetch`: starts a cancelled consumer, or restarts one
   * whose window is too small (what it delivered stays buffered: delivery tags belong to the
   * channel, not the consumer). True when this call started one.
   */
  consume(prefetch: number): Promise<boolean> {
    return this.#inTurn(async () => {
      if (this.#gone) return false;
      if (this.#live !== undefined && this.#prefetch >= prefetch) return false;
      await this.#stop();
      await this.channel.prefetch(prefetch);
      const live = { tag: '' };
      const { consumerTag } = await this.channel.consume(
        this.#queue,
        (raw) => {
          // null: RabbitMQ cancelled the consumer (the queue was deleted); the next lease restarts it.
          if (raw === null) {
            if (this.#live === live) this.#live = undefined;
            this.#wake();
          } else {
            this.#insert(raw);
          }
        },
        { noAck: false },
      );
      live.tag = consumerTag;
      this.#live = live;
      this.#prefetch = prefetch;
      return true;
    });
  }

  /** Up to `max` buffered messages, oldest first; they leave the buffer. */
  take(max: number): Message[] {
    return this.#buffer.splice(0, max);
  }

  /**
   * One `basic.get` on this consumer's channel. RabbitMQ answers it after every delivery it sent
   * the channel before, so once it resolves the buffer holds all the consumer was given; a
   * message it gets joins the buffer in delivery-tag order. True when it got one.
   */
  async get(): Promise<boolean> {
    const raw = await this.channel.get(this.#queue, { noAck: false });
    if (raw === false) return false;
    this.#insert(raw);
    return true;
  }

  /** Resolves on the next delivery, after `ms`, or when the consumer stops. */
  delivery(ms: number): Promise<void> {
    if (this.#gone) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#waiters.add(done);
    });
  }

  /** A lease call is using the consumer: it is not idle. */
  begin(): void {
    this.#busy++;
  }

  end(): void {
    if (--this.#busy > 0 || this.#gone) return;
    if (this.#idleTimer === undefined) {
      this.#idleTimer = setTimeout(() => {
        if (this.#busy === 0 && this.#live !== undefined && !this.#gone) this.#onIdle(this);
      }, this.#idleMs);
      this.#idleTimer.unref();
    } else {
      this.#idleTimer.refresh();
    }
  }

  /**
   * `basic.cancel`, then hands back what is still buffered: the caller returns those messages to
   * the queue. Leased messages stay acknowledgeable on the channel.
   */
  cancel(): Promise<Message[]> {
    return this.#inTurn(async () => {
      await this.#stop();
      this.#wake();
      return this.#buffer.splice(0);
    });
  }

  /** The connection is gone: RabbitMQ requeues what was buffered and the tags mean nothing. */
  lost(): void {
    this.#gone = true;
    this.#live = undefined;
    this.#buffer = [];
    clearTimeout(this.#idleTimer);
    this.#wake();
  }

  async #stop(): Promise<void> {
    const live = this.#live;
    if (live === undefined) return;
    this.#live = undefined;
    await this.channel.cancel(live.tag);
  }

  #inTurn<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#serial.then(work, work);
    this.#serial = run.catch(() => undefined);
    return run;
  }

  #insert(raw: Message): void {
    if (this.#gone) return;
    const tag = raw.fields.deliveryTag;
    let at = this.#buffer.length;
    while (at > 0 && this.#buffer[at - 1]!.fields.deliveryTag > tag) at--;
    this.#buffer.splice(at, 0, raw);
    this.#wake();
  }

  #wake(): void {
    if (this.#waiters.size === 0) return;
    for (const waiter of [...this.#waiters]) waiter();
  }
}
