import type { Logger } from 'pino';
import { Router } from 'zeromq';
import { errorMessage } from '../../errors/error-message.js';
import { InferqError, isInferqError } from '../../errors/inferq-error.js';
import { frameValue, SendQueue, valueFrames } from './zmq-frames.js';

/** One fast-path call as a remote worker receives it. */
export interface RealtimeCall {
  /** `name` or `name@version`, as the caller asked. */
  model: string;
  body: unknown;
  /** Aborted when the caller cancels (it disconnected) or the server closes. */
  signal: AbortSignal;
}

export interface RealtimeServerOptions {
  /** `tcp://host:port`; port `*` (or 0) takes a free one (see {@link RealtimeServer.endpoint}). */
  bind: string;
  /** Answers one call; a thrown InferqError travels back as its code and message. */
  handle: (call: RealtimeCall) => Promise<unknown>;
  /** The models this worker answers for (`name@version`), sent with each heartbeat reply. */
  models: () => string[];
  logger?: Logger;
}

/**
 * The worker end of the fast path across hosts: a ZeroMQ ROUTER that API hosts' DEALERs
 * connect to (the reference system's router–dealer pattern). Each request runs at once
 * (the handler batches); replies go back to the identity that asked. A `ping` is answered with
 * `pong` and what this worker serves, which is how API hosts learn the worker is alive and
 * what to route to it.
 */
export class RealtimeServer {
  readonly #router: Router;
  readonly #out: SendQueue;
  readonly #options: RealtimeServerOptions;
  readonly #running = new Map<string, AbortController>();
  #loop: Promise<void> | undefined;
  #closed = false;

  private constructor(router: Router, options: RealtimeServerOptions) {
    this.#router = router;
    this.#options = options;
    this.#out = new SendQueue((frames) => router.send(frames));
  }

  static async bind(options: RealtimeServerOptions): Promise<RealtimeServer> {
    const router = new Router({ linger: 0, sendTimeout: 0, mandatory: false });
    await router.bind(options.bind.replace(/:0$/, ':*'));
    const server = new RealtimeServer(router, options);
    server.#loop = server.#receive();
    return server;
  }

  /** The endpoint bound, with the port the system chose for `*`. */
  get endpoint(): string {
    return this.#router.lastEndpoint ?? this.#options.bind;
  }

  /** Calls running now. */
  get inFlight(): number {
    return this.#running.size;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const controller of this.#running.values()) controller.abort();
    this.#router.close();
    await this.#loop?.catch(() => undefined);
  }

  async #receive(): Promise<void> {
    try {
      for await (const frames of this.#router) {
        const [identity, kind, id] = frames;
        if (identity === undefined || kind === undefined || id === undefined) continue;
        const type = kind.toString();
        if (type === 'req') this.#call(identity, id.toString(), frames);
        else if (type === 'cancel') this.#running.get(callKey(identity, id.toString()))?.abort();
        else if (type === 'ping') this.#pong(identity, id);
      }
    } catch (err) {
      if (!this.#closed) this.#options.logger?.error({ err }, 'realtime server stopped receiving');
    }
  }

  #pong(identity: Buffer, seq: Buffer): void {
    const status = { models: this.#options.models(), inFlight: this.#running.size };
    this.#reply([identity, Buffer.from('pong'), seq, Buffer.from(JSON.stringify(status))]);
  }

  #call(identity: Buffer, id: string, frames: Buffer[]): void {
    const key = callKey(identity, id);
    const controller = new AbortController();
    this.#running.set(key, controller);
    const run = async (): Promise<unknown> => {
      const header = frameValue(frames, 3) as { model?: unknown; body?: unknown };
      if (typeof header.model !== 'string')
        throw new InferqError('INFERQ_VALIDATION_FAILED', 'no model named');
      return {
        ok: true,
        body: await this.#options.handle({
          model: header.model,
          body: header.body,
          signal: controller.signal,
        }),
      };
    };
    run()
      .catch((err: unknown) => {
        if (!isInferqError(err)) this.#options.logger?.error({ err, call: id }, 'realtime call failed');
        return { ok: false, error: errorMessage(err) };
      })
      .then((reply) => {
        this.#running.delete(key);
        // A cancelled call's caller is gone: nothing to answer.
        if (!controller.signal.aborted) this.#reply([identity, ...valueFrames('rep', id, reply)]);
      });
  }

  #reply(frames: Buffer[]): void {
    if (this.#closed) return;
    this.#out.send(frames).catch((err: unknown) => {
      // The caller's connection is gone (or its queue full): it times the call out itself.
      this.#options.logger?.debug({ err }, 'realtime reply not sent');
    });
  }
}

function callKey(identity: Buffer, id: string): string {
  return `${identity.toString('hex')}/${id}`;
}
