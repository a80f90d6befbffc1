import type { Channel, Message } from 'amqplib';
import type { DecodedMessage } from './message.js';

/** One lease: a message this instance leased and has not acked or nacked yet. */
export interface HeldLease {
  token: string;
  queue: string;
  message: DecodedMessage;
  raw: Message;
  /** The channel it was delivered on, where it must be acked (its queue consumer's). */
  channel: Channel;
  /** The connection generation it was delivered on: a delivery tag means nothing on another one. */
  generation: number;
  expiresAt: number;
  timer: NodeJS.Timeout;
}

/**
 * The leases held by one broker instance, keyed by token. RabbitMQ itself knows only "delivered,
 * unacked": the token, the expiry and its timer are this table's. Taking an entry out (`take`)
 * is the fence: whoever takes it acts on the message, a second ack or a late timer finds nothing.
 */
export class LeaseTable {
  readonly #byToken = new Map<string, HeldLease>();

  constructor(private readonly onExpire: (lease: HeldLease) => void) {}

  add(entry: Omit<HeldLease, 'timer'>): HeldLease {
    const held = { ...entry, timer: this.#arm(entry.token, entry.expiresAt) };
    this.#byToken.set(held.token, held);
    return held;
  }

  /** Removes and returns the lease when `token` names a live lease of job `id`. */
  take(id: string, token: string, generation: number): HeldLease | undefined {
    const held = this.#byToken.get(token);
    if (held === undefined || held.message.id !== id || held.generation !== generation) return undefined;
    this.#byToken.delete(token);
    clearTimeout(held.timer);
    return held;
  }

  /** Moves a live lease's expiry; false when it is gone. */
  extend(id: string, token: string, generation: number, expiresAt: number): boolean {
    const held = this.#byToken.get(token);
    if (held === undefined || held.message.id !== id || held.generation !== generation) return false;
    clearTimeout(held.timer);
    held.expiresAt = expiresAt;
    held.timer = this.#arm(token, expiresAt);
    return true;
  }

  /** Takes every lease whose expiry has passed (a timer may be late under load). */
  takeExpired(now: number): HeldLease[] {
    const expired = [...this.#byToken.values()].filter((held) => held.expiresAt <= now);
    for (const held of expired) {
      this.#byToken.delete(held.token);
      clearTimeout(held.timer);
    }
    return expired;
  }

  count(queue: string): number {
    let n = 0;
    for (const held of this.#byToken.values()) if (held.queue === queue) n++;
    return n;
  }

  /** Forgets every lease: their channel is gone, and RabbitMQ redelivers the messages itself. */
  clear(): void {
    for (const held of this.#byToken.values()) clearTimeout(held.timer);
    this.#byToken.clear();
  }

  #arm(token: string, expiresAt: number): NodeJS.Timeout {
    const timer = setTimeout(
      () => {
        const held = this.#byToken.get(token);
        if (held === undefined) return;
        this.#byToken.delete(token);
        this.onExpire(held);
      },
      Math.max(0, expiresAt - Date.now()),
    );
    timer.unref();
    return timer;
  }
}
