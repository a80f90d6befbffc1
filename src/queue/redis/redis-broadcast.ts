import type { Redis } from 'ioredis';
import type { BroadcastMessage } from '../../core/job.js';
import type { Unsubscribe } from '../broker.js';

type Handler = (message: BroadcastMessage) => void;

/**
 * Broadcast over Redis pub/sub: one subscriber connection per broker handle, shared by every
 * local subscriber. Pub/sub is fire-and-forget, which is what control messages want (a worker
 * that was down reloads from the model repository on start anyway).
 *
 * A local subscriber is only activated once Redis has answered its own SUBSCRIBE: replies and
 * messages share one ordered connection, so every message published before that reply has
 * already been handed out, and a late subscriber never sees what came before it.
 */
export class RedisBroadcast {
  readonly #handlers = new Map<string, Set<Handler>>();
  #subscriber: Redis | undefined;

  constructor(
    private readonly publisher: Redis,
    private readonly prefix: string,
  ) {}

  async publish(channel: string, message: BroadcastMessage): Promise<void> {
    await this.publisher.publish(this.#key(channel), JSON.stringify(message));
  }

  async subscribe(channel: string, handler: Handler): Promise<Unsubscribe> {
    const key = this.#key(channel);
    const subscriber = this.#connection();
    await subscriber.subscribe(key);
    let handlers = this.#handlers.get(key);
    if (handlers === undefined) {
      handlers = new Set();
      this.#handlers.set(key, handlers);
    }
    // A distinct wrapper per call, so the same function subscribed twice is two subscriptions.
    const entry: Handler = (message) => handler(message);
    handlers.add(entry);
    return async () => {
      const current = this.#handlers.get(key);
      if (current === undefined || !current.delete(entry)) return;
      if (current.size === 0) {
        this.#handlers.delete(key);
        await subscriber.unsubscribe(key).catch(() => undefined);
      }
    };
  }

  async close(): Promise<void> {
    this.#handlers.clear();
    const subscriber = this.#subscriber;
    this.#subscriber = undefined;
    if (subscriber !== undefined) await subscriber.quit().catch(() => subscriber.disconnect());
  }

  #connection(): Redis {
    if (this.#subscriber === undefined) {
      // ioredis re-subscribes to every channel by itself after a reconnect.
      const subscriber = this.publisher.duplicate();
      subscriber.on('error', () => {});
      subscriber.on('message', (key: string, text: string) => {
        const handlers = this.#handlers.get(key);
        if (handlers === undefined) return;
        let message: BroadcastMessage;
        try {
          message = JSON.parse(text) as BroadcastMessage;
        } catch {
          return; // Not ours (someone else published on our channel name): ignore it.
        }
        for (const handler of [...handlers]) handler(message);
      });
      this.#subscriber = subscriber;
    }
    return this.#subscriber;
  }

  #key(channel: string): string {
    return `${this.prefix}:inferq:broadcast:${channel}`;
  }
}
