import type { BroadcastMessage } from '../../core/job.js';
import type { Unsubscribe } from '../broker.js';
import type { AmqpChannels, AmqpConnection } from './amqp-connection.js';
import type { DeclaredTopology } from './declared-topology.js';

interface Subscription {
  channel: string;
  handler: (message: BroadcastMessage) => void;
  queue?: string;
  consumerTag?: string;
}

/**
 * Broadcast over a fanout exchange per channel: each subscriber consumes an exclusive,
 * auto-deleted queue of its own, bound to the exchange, and subscribes again after a reconnect.
 */
export class RabbitMqBroadcast {
  readonly #subscriptions = new Set<Subscription>();

  constructor(
    private readonly connection: AmqpConnection,
    private readonly topology: DeclaredTopology,
  ) {}

  async publish(channel: string, message: BroadcastMessage): Promise<void> {
    const { publish } = await this.connection.channels();
    const exchange = await this.topology.exchange(publish, channel);
    await new Promise<void>((resolve, reject) => {
      publish.publish(exchange, '', Buffer.from(JSON.stringify(message)), {}, (err) =>
        err ? reject(err) : resolve(),
      );
    });
  }

  async subscribe(channel: string, handler: (message: BroadcastMessage) => void): Promise<Unsubscribe> {
    const subscription: Subscription = { channel, handler };
    this.#subscriptions.add(subscription);
    await this.#consume(await this.connection.channels(), subscription);
    return async () => {
      if (!this.#subscriptions.delete(subscription)) return;
      const channels = await this.connection.channels().catch(() => undefined);
      if (channels === undefined || subscription.consumerTag === undefined) return;
      await channels.work.cancel(subscription.consumerTag);
      if (subscription.queue !== undefined) await channels.work.deleteQueue(subscription.queue);
    };
  }

  /** Subscribes every subscriber again on a new connection. */
  async resubscribe(channels: AmqpChannels): Promise<void> {
    for (const subscription of this.#subscriptions) await this.#consume(channels, subscription);
  }

  /** An exclusive, auto-deleted queue per subscriber, bound to the channel's fanout exchange. */
  async #consume(channels: AmqpChannels, subscription: Subscription): Promise<void> {
    const { work } = channels;
    const exchange = await this.topology.exchange(work, subscription.channel);
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
}
