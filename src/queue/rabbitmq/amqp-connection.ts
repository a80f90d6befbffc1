import { setTimeout as sleep } from 'node:timers/promises';
import amqp, { type Channel, type ChannelModel, type ConfirmChannel } from 'amqplib';
import { InferqError } from '../../errors/index.js';

/** The channels of one live connection. */
export interface AmqpChannels {
  /** Publishes with publisher confirms: a publish resolves once RabbitMQ has the message. */
  publish: ConfirmChannel;
  /** Gets from dead-letter queues and consumes broadcast queues (work queues have their own). */
  work: Channel;
  /** Increases on every reconnect; delivery tags of an older generation are void. */
  generation: number;
}

export interface AmqpConnectionOptions {
  /** Called after every reconnect (not the first connect), to redo subscriptions. */
  onReconnect: (channels: AmqpChannels) => Promise<void>;
  /** Called when the connection is lost: leases on it are gone. */
  onLost: () => void;
  /** How long an operation waits for a reconnect before failing. Default 10 s. */
  reconnectWaitMs?: number;
}

/** Strips credentials from a URL for error messages. */
export function redactAmqpUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}

/**
 * One AMQP connection that comes back after a broker restart: on an unexpected close it
 * reconnects with exponential backoff (100 ms → 2 s) until `close`. Any channel error closes the
 * whole connection, so there is one recovery path (and one generation to fence delivery tags).
 */
export class AmqpConnection {
  #current: AmqpChannels | undefined;
  #model: ChannelModel | undefined;
  /** Every channel open on `#model`. */
  #channels: Channel[] = [];
  #generation = 0;
  #closing = false;
  #reconnecting: Promise<void> | undefined;

  private constructor(
    private readonly url: string,
    private readonly options: AmqpConnectionOptions,
  ) {}

  static async open(url: string, options: AmqpConnectionOptions): Promise<AmqpConnection> {
    const connection = new AmqpConnection(url, options);
    await connection.#connect();
    return connection;
  }

  /** The live channels, waiting for a reconnect in progress. */
  async channels(): Promise<AmqpChannels> {
    if (this.#closing) throw new InferqError('INFERQ_BROKER_UNAVAILABLE', 'the RabbitMQ broker is closed');
    if (this.#current !== undefined) return this.#current;
    const waitMs = this.options.reconnectWaitMs ?? 10_000;
    const gaveUp = Symbol('timeout');
    const outcome = await Promise.race([
      this.#reconnecting ?? Promise.resolve(),
      sleep(waitMs, gaveUp, { ref: false }),
    ]);
    if (outcome === gaveUp || this.#current === undefined) {
      throw new InferqError(
        'INFERQ_BROKER_UNAVAILABLE',
        `RabbitMQ at ${redactAmqpUrl(this.url)} is unreachable`,
      );
    }
    return this.#current;
  }

  /** Whether `close` was called. */
  get closed(): boolean {
    return this.#closing;
  }

  /** The current generation, or -1 while disconnected. */
  get generation(): number {
    return this.#current?.generation ?? -1;
  }

  /** Destroys the TCP socket as a network failure would (reconnect tests only). */
  destroySocket(): void {
    // With an error, as a reset socket would: amqplib watches the socket's 'error', not 'close'.
    const model = this.#model as unknown as
      | { connection?: { stream?: { destroy(e: Error): void } } }
      | undefined;
    model?.connection?.stream?.destroy(new Error('socket destroyed (simulated network failure)'));
  }

  /**
   * Closes the connection once every channel has answered a round trip: RabbitMQ may drop the
   * acks a channel had not handled yet when the connection closes (seen on 3.10: acks sent just
   * before a close came back as redeliveries), and a channel answers in the order it was sent.
   */
  async close(): Promise<void> {
    this.#closing = true;
    const model = this.#model;
    const channels = this.#channels;
    this.#current = undefined;
    this.#model = undefined;
    this.#channels = [];
    await Promise.all(channels.map((channel) => channel.checkExchange('amq.fanout').catch(() => undefined)));
    await model?.close().catch(() => undefined);
  }

  async #connect(): Promise<void> {
    let model: ChannelModel;
    try {
      model = await amqp.connect(this.url);
    } catch (cause) {
      throw new InferqError(
        'INFERQ_BROKER_UNAVAILABLE',
        `cannot reach RabbitMQ at ${redactAmqpUrl(this.url)}`,
        {
          cause,
        },
      );
    }
    // Without an 'error' listener amqplib's errors would be thrown as unhandled events; the
    // 'close' that always follows drives recovery.
    model.on('error', () => undefined);
    model.on('close', () => this.#lost(model));
    const publish = await model.createConfirmChannel();
    const work = await model.createChannel();
    this.#generation += 1;
    this.#model = model;
    this.#channels = [];
    for (const channel of [publish, work]) this.#watch(model, channel);
    this.#current = { publish, work, generation: this.#generation };
  }

  /**
   * Another channel on the connection of `generation` (one per consumed work queue, so each
   * consumer has its own prefetch window); fails when that connection is gone.
   */
  async openChannel(generation: number): Promise<Channel> {
    const model = this.#model;
    if (model === undefined || this.#current?.generation !== generation) {
      throw new InferqError('INFERQ_BROKER_UNAVAILABLE', 'the RabbitMQ connection was lost');
    }
    const channel = await model.createChannel();
    this.#watch(model, channel);
    return channel;
  }

  #watch(model: ChannelModel, channel: Channel): void {
    this.#channels.push(channel);
    channel.on('error', () => undefined);
    // A channel error (404, precondition) leaves the connection up: close it to recover once.
    channel.on('close', () => {
      if (this.#model === model) void model.close().catch(() => undefined);
    });
  }

  #lost(model: ChannelModel): void {
    if (this.#model !== model) return;
    this.#model = undefined;
    this.#channels = [];
    this.#current = undefined;
    this.options.onLost();
    if (this.#closing || this.#reconnecting !== undefined) return;
    this.#reconnecting = this.#reconnectLoop().finally(() => {
      this.#reconnecting = undefined;
    });
  }

  async #reconnectLoop(): Promise<void> {
    let pause = 100;
    while (!this.#closing) {
      await sleep(pause, undefined, { ref: false });
      pause = Math.min(2_000, pause * 2);
      if (this.#closing) return;
      try {
        await this.#connect();
        if (this.#closing) {
          await this.close();
          return;
        }
        await this.options.onReconnect(this.#current!);
        return;
      } catch {
        // Not reachable yet, or the new connection broke while restoring subscriptions: drop
        // it (its 'close' finds this loop running) and try again.
        await this.#model?.close().catch(() => undefined);
      }
    }
  }
}
