import type { FastifyBaseLogger } from 'fastify';

/** One open event stream of a feed. */
export interface FeedSubscriber {
  /** A new snapshot, as JSON text. */
  send(json: string): void;
  /** The snapshot could not be computed this time (the feed keeps trying). */
  fail(err: unknown): void;
  /** The feed is shutting down (the app is closing): end the stream. */
  end(): void;
}

interface Feed {
  subscribers: Set<FeedSubscriber>;
  last: string | undefined;
  wake: (() => void) | undefined;
}

/**
 * Live snapshots for the stats event streams. Streams that ask for the same view (same scope,
 * window, interval) share one loop: a snapshot is computed once per interval however many
 * dashboards are open, and only sent when it differs from the previous one. A loop also never
 * runs more often than every 4× its own compute time, so a slow store (a huge window on a busy
 * database) slows the updates down rather than the store. The loop stops with its last stream.
 */
export class StatsFeed {
  readonly #feeds = new Map<string, Feed>();
  readonly #logger: FastifyBaseLogger;
  #closed = false;

  constructor(logger: FastifyBaseLogger) {
    this.#logger = logger;
  }

  /**
   * Joins the feed `key` (starting its loop over `load` if it is the first stream); the latest
   * snapshot, if any, is sent at once. Returns the function that leaves it.
   */
  subscribe(
    key: string,
    load: () => Promise<unknown>,
    intervalMs: number,
    subscriber: FeedSubscriber,
  ): () => void {
    if (this.#closed) {
      subscriber.end();
      return () => {};
    }
    let feed = this.#feeds.get(key);
    if (feed === undefined) {
      feed = { subscribers: new Set(), last: undefined, wake: undefined };
      this.#feeds.set(key, feed);
      feed.subscribers.add(subscriber);
      void this.#run(key, feed, load, intervalMs);
    } else {
      feed.subscribers.add(subscriber);
      if (feed.last !== undefined) subscriber.send(feed.last);
    }
    const joined = feed;
    return () => {
      joined.subscribers.delete(subscriber);
      if (joined.subscribers.size === 0) joined.wake?.();
    };
  }

  /** Ends every stream and stops every loop (the app is closing). */
  close(): void {
    this.#closed = true;
    for (const feed of this.#feeds.values()) {
      for (const subscriber of feed.subscribers) subscriber.end();
      feed.subscribers.clear();
      feed.wake?.();
    }
    this.#feeds.clear();
  }

  async #run(key: string, feed: Feed, load: () => Promise<unknown>, intervalMs: number): Promise<void> {
    while (!this.#closed && feed.subscribers.size > 0) {
      const started = performance.now();
      try {
        const json = JSON.stringify(await load());
        if (json !== feed.last) {
          feed.last = json;
          for (const subscriber of feed.subscribers) subscriber.send(json);
        }
      } catch (err) {
        this.#logger.warn({ err, feed: key }, 'stats snapshot failed');
        for (const subscriber of feed.subscribers) subscriber.fail(err);
      }
      const pause = Math.max(intervalMs, 4 * (performance.now() - started));
      if (this.#closed || feed.subscribers.size === 0) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, pause);
        function done(): void {
          clearTimeout(timer);
          feed.wake = undefined;
          resolve();
        }
        feed.wake = done;
      });
    }
    if (this.#feeds.get(key) === feed) this.#feeds.delete(key);
  }
}
