import type { Channel, ConfirmChannel, Message, Options } from 'amqplib';
import type { AmqpConnection } from './amqp-connection.js';
import type { HeldLease } from './lease-table.js';
import { encode, type OutgoingMessage, outgoing } from './message.js';
import { delayBucket, type QueueNames, queueNames } from './topology.js';

/** A delivery this instance holds unacked: a lease, or a buffered message of a queue consumer. */
export type HeldDelivery = Pick<HeldLease, 'queue' | 'raw' | 'channel' | 'generation'>;

/**
 * Publishes jobs to a queue's work, delay and dead queues over the confirm channel. Moving a
 * held delivery (a retry, a dead letter, a message given back) publishes the new message first
 * and acks the delivery after, so a crash in between duplicates a job rather than losing it.
 */
export class JobPublisher {
  constructor(
    private readonly connection: AmqpConnection,
    private readonly prefix: string,
  ) {}

  /** Publishes to the work queue, or after `delayMs` through a delay queue. */
  async publish(publish: ConfirmChannel, names: QueueNames, delayMs: number, message: OutgoingMessage) {
    if (delayMs <= 0) {
      const { body, options } = encode({ ...message, notBefore: undefined });
      return confirmSend(publish, names.work, body, options);
    }
    const bucket = delayBucket(delayMs);
    const notBefore = delayMs > bucket ? Date.now() + delayMs : undefined;
    const { body, options } = encode({ ...message, notBefore });
    return confirmSend(publish, names.delay(bucket), body, options);
  }

  /** Publishes the job anew (after `delayMs`), then acks the held delivery. */
  async republish(held: HeldDelivery, delayMs: number, next: OutgoingMessage) {
    const channels = await this.connection.channels();
    if (channels.generation !== held.generation) return;
    await this.publish(channels.publish, queueNames(this.prefix, held.queue), delayMs, next);
    held.channel.ack(held.raw);
  }

  async deadLetter(held: HeldLease, error: string): Promise<void> {
    const channels = await this.connection.channels();
    if (channels.generation !== held.generation) return;
    const names = queueNames(this.prefix, held.queue);
    const { body, options } = encode({
      ...outgoing(held.message),
      attempts: held.message.attempts,
      error,
      failedAt: Date.now(),
    });
    await confirmSend(channels.publish, names.dead, body, options);
    held.channel.ack(held.raw);
  }

  /** A message that is not inferq's JSON goes to the dead queue as it is. */
  async deadLetterRaw(queue: string, channel: Channel, raw: Message): Promise<void> {
    const { publish } = await this.connection.channels();
    await confirmSend(publish, queueNames(this.prefix, queue).dead, raw.content, {
      ...raw.properties,
      headers: { ...raw.properties.headers, 'x-inferq-error': 'malformed message (body is not JSON)' },
    } as Options.Publish);
    channel.ack(raw);
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
