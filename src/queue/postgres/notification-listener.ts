import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { isPgConnectionError, retryOnConnectionError } from '../../postgres/pg-retry.js';

export interface NotificationListenerOptions {
  /** Connection settings (the broker pool's: same server, user and `search_path`). */
  connection: pg.ClientConfig;
  /** The one NOTIFY channel this broker listens on. */
  channel: string;
  /** Each notification's payload, in the order the server sent them. */
  onNotification(payload: string): void;
  /**
   * After a reconnect: notifications sent while the connection was down are lost (NOTIFY is not
   * queued for a session that is not listening), so the caller looks again for work.
   */
  onReconnect(): void;
  /** How long the first connect keeps trying while the server refuses (default 20 s). */
  retryMs?: number;
}

/**
 * One LISTEN connection per broker handle, shared by every long-polling `lease` and every
 * subscriber of the handle (not a connection per waiter: many hosts × workers share the
 * server's `max_connections`).
 *
 * When the connection drops (a server restart, a failover, a network cut) it is opened again,
 * backing off 50 ms → 1 s, for as long as the broker is open; while it is down, leasers fall back
 * to their poll interval, so nothing waits for longer than that.
 */
export class NotificationListener {
  readonly #options: NotificationListenerOptions;
  #client: pg.Client | undefined;
  /** Resolves once a connection is listening (replaced while reconnecting). */
  #ready: Promise<pg.Client | undefined>;
  #markReady: (client: pg.Client | undefined) => void = () => {};
  #closed = false;

  private constructor(options: NotificationListenerOptions) {
    this.#options = options;
    this.#ready = this.#pendingReady();
  }

  /** Connects and listens; throws (a connection error) when the server cannot be reached in time. */
  static async start(options: NotificationListenerOptions): Promise<NotificationListener> {
    const listener = new NotificationListener(options);
    const client = await retryOnConnectionError(() => listener.#connect(), options.retryMs ?? 20_000);
    listener.#adopt(client);
    return listener;
  }

  /**
   * Resolves once every notification the server sent before this call has been handed to
   * `onNotification`: a round trip on the listening connection, whose replies arrive in order
   * with its notifications. (PostgreSQL sends a committed notification to an idle listener at
   * once, and otherwise before the next ReadyForQuery.) What a subscriber registers after this
   * never sees a message published before it subscribed.
   */
  async sync(): Promise<void> {
    for (;;) {
      if (this.#closed) return;
      const client = await this.#ready;
      if (client === undefined) return; // closed
      try {
        await client.query('SELECT 1');
        return;
      } catch (err) {
        if (!isPgConnectionError(err) && !this.#closed) throw err;
        // The connection went while syncing: the next one is ready once it listens again.
        await sleep(10);
      }
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const client = this.#client;
    this.#client = undefined;
    this.#markReady(undefined);
    if (client !== undefined) await client.end().catch(() => {});
  }

  #pendingReady(): Promise<pg.Client | undefined> {
    return new Promise((resolve) => {
      this.#markReady = resolve;
    });
  }

  async #connect(): Promise<pg.Client> {
    // Named, so that an operator (and a test) can tell the listening connection in pg_stat_activity.
    const client = new pg.Client({
      ...this.#options.connection,
      application_name: `inferq-listen:${this.#options.channel}`,
    });
    // Errors of an idle connection arrive as events; 'end' below reconnects.
    client.on('error', () => {});
    try {
      await client.connect();
      await client.query(`LISTEN ${pg.escapeIdentifier(this.#options.channel)}`);
    } catch (err) {
      await client.end().catch(() => {});
      throw err;
    }
    return client;
  }

  #adopt(client: pg.Client): void {
    if (this.#closed) {
      client.end().catch(() => {});
      return;
    }
    this.#client = client;
    client.on('notification', (message) => {
      if (message.channel === this.#options.channel) this.#options.onNotification(message.payload ?? '');
    });
    client.once('end', () => {
      if (this.#client !== client) return;
      this.#client = undefined;
      this.#ready = this.#pendingReady();
      void this.#reconnect();
    });
    this.#markReady(client);
  }

  async #reconnect(): Promise<void> {
    let pause = 50;
    while (!this.#closed) {
      await sleep(pause);
      if (this.#closed) return;
      try {
        const client = await this.#connect();
        this.#adopt(client);
        this.#options.onReconnect();
        return;
      } catch {
        pause = Math.min(1_000, pause * 2);
      }
    }
  }
}
