import type { Channel } from 'amqplib';
import type { AmqpChannels, AmqpConnection } from './amqp-connection.js';
import { broadcastExchange, delayArguments, delayBuckets, queueNames, quorumArguments } from './topology.js';

/**
 * Declares a broker's queues and exchanges on the live connection (each queue once per
 * connection, again after a reconnect) and remembers every name it ever declared.
 */
export class DeclaredTopology {
  /** Queues declared on the current connection (redeclared after a reconnect). */
  readonly #asserted = new Set<string>();
  readonly #declared = { queues: new Set<string>(), exchanges: new Set<string>() };

  constructor(
    private readonly connection: AmqpConnection,
    private readonly prefix: string,
  ) {}

  /** The live channels, with the queue's topology declared on this connection. */
  async ready(queue: string): Promise<AmqpChannels> {
    const channels = await this.connection.channels();
    if (this.#asserted.has(queue)) return channels;
    const names = queueNames(this.prefix, queue);
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

  /** Declares a broadcast channel's fanout exchange; returns its name. */
  async exchange(channel: Channel, name: string): Promise<string> {
    const exchange = broadcastExchange(this.prefix, name);
    await channel.assertExchange(exchange, 'fanout', { durable: true });
    this.#declared.exchanges.add(exchange);
    return exchange;
  }

  /** The connection is gone: every queue is declared again on the next one. */
  lost(): void {
    this.#asserted.clear();
  }

  /** Every queue and exchange declared (for test teardown). */
  names(): { queues: string[]; exchanges: string[] } {
    return { queues: [...this.#declared.queues], exchanges: [...this.#declared.exchanges] };
  }

  /** Deletes the named queues and exchanges, messages included (test teardown and tooling). */
  async delete(names: { queues: readonly string[]; exchanges: readonly string[] }): Promise<void> {
    const { publish } = await this.connection.channels();
    for (const queue of names.queues) await publish.deleteQueue(queue);
    for (const exchange of names.exchanges) await publish.deleteExchange(exchange);
  }
}
