import type pg from 'pg';
import type { BroadcastMessage } from '../../core/job.js';
import { InferqError } from '../../errors/index.js';
import type { Unsubscribe } from '../broker.js';
import type { NotificationListener } from './notification-listener.js';

type Handler = (message: BroadcastMessage) => void;

/**
 * NOTIFY payloads must be under 8,000 bytes; a message whose notification would be larger (a
 * task-events batch of a few hundred ids) is stored as a row and the notification names the row.
 */
const maxInlineBytes = 7_900;
const maxChannelLength = 200;

/**
 * Broadcast over LISTEN/NOTIFY on the broker's one channel: a published message is a
 * notification `b<json>` (`{ c: channel, m: message }`), or `r<seq>:<channel>` naming a row of
 * `broker_broadcasts` when it is too large for a notification. Like Redis pub/sub this is fire
 * and forget, which is what control messages want; PostgreSQL delivers notifications in commit
 * order, so every subscriber sees one publisher's messages in the order they were published.
 *
 * Deliveries go through one chain, so a message fetched from its row is handed out in its place,
 * not after the small messages that followed it. A subscriber is added at its place in that
 * chain, after a round trip on the listening connection (`NotificationListener.sync`): it sees
 * only messages published after it subscribed.
 */
export class PostgresBroadcast {
  readonly #handlers = new Map<string, Set<Handler>>();
  #delivery: Promise<void> = Promise.resolve();

  constructor(
    private readonly pool: () => pg.Pool,
    private readonly listener: () => NotificationListener,
    private readonly channel: string,
    private readonly retentionMs: number,
  ) {}

  async publish(channel: string, message: BroadcastMessage): Promise<void> {
    checkChannel(channel);
    const text = JSON.stringify(message);
    const inline = `b${JSON.stringify({ c: channel, m: message })}`;
    if (Buffer.byteLength(inline) <= maxInlineBytes) {
      await this.pool().query('SELECT pg_notify($1, $2)', [this.channel, inline]);
      return;
    }
    const now = Date.now();
    await this.pool().query(
      `WITH stored AS (
         INSERT INTO broker_broadcasts (channel, message, published_at) VALUES ($2, $3, $4) RETURNING seq
       ),
       pruned AS (DELETE FROM broker_broadcasts WHERE published_at < $5)
       SELECT pg_notify($1, 'r' || seq || ':' || $2) FROM stored`,
      [this.channel, channel, text, now, now - this.retentionMs],
    );
  }

  async subscribe(channel: string, handler: Handler): Promise<Unsubscribe> {
    checkChannel(channel);
    await this.listener().sync();
    // A distinct wrapper per call, so the same function subscribed twice is two subscriptions.
    const entry: Handler = (message) => handler(message);
    await this.#enqueueDelivery(async () => {
      let handlers = this.#handlers.get(channel);
      if (handlers === undefined) {
        handlers = new Set();
        this.#handlers.set(channel, handlers);
      }
      handlers.add(entry);
    });
    return async () => {
      const current = this.#handlers.get(channel);
      if (current === undefined || !current.delete(entry)) return;
      if (current.size === 0) this.#handlers.delete(channel);
    };
  }

  /** A broadcast notification's payload (`b…` or `r…`), from the listener. */
  received(payload: string): void {
    if (payload.startsWith('b')) {
      let parsed: { c?: unknown; m?: unknown };
      try {
        parsed = JSON.parse(payload.slice(1)) as { c?: unknown; m?: unknown };
      } catch {
        return; // Not ours (someone else notified on our channel): ignore it.
      }
      if (typeof parsed.c !== 'string') return;
      const channel = parsed.c;
      const message = parsed.m as BroadcastMessage;
      void this.#enqueueDelivery(async () => this.#deliver(channel, message));
      return;
    }
    const ref = /^r(\d+):(.*)$/s.exec(payload);
    if (ref === null) return;
    const [, seq, channel] = ref as unknown as [string, string, string];
    if (!this.#handlers.has(channel)) return;
    void this.#enqueueDelivery(async () => {
      const { rows } = await this.pool().query<{ message: string }>(
        'SELECT message FROM broker_broadcasts WHERE seq = $1',
        [seq],
      );
      if (rows[0] !== undefined) this.#deliver(channel, JSON.parse(rows[0].message) as BroadcastMessage);
    });
  }

  close(): void {
    this.#handlers.clear();
  }

  #deliver(channel: string, message: BroadcastMessage): void {
    const handlers = this.#handlers.get(channel);
    if (handlers === undefined) return;
    for (const handler of [...handlers]) handler(message);
  }

  /** Runs `step` after every delivery queued before it; a failed step (a lost fetch) is skipped. */
  #enqueueDelivery(step: () => Promise<void>): Promise<void> {
    const next = this.#delivery.then(step).catch(() => undefined);
    this.#delivery = next;
    return next;
  }
}

function checkChannel(channel: string): void {
  if (typeof channel !== 'string' || channel.length === 0 || channel.length > maxChannelLength) {
    throw new InferqError(
      'INFERQ_VALIDATION_FAILED',
      `a broadcast channel must be a string of 1 to ${maxChannelLength} characters`,
    );
  }
}
