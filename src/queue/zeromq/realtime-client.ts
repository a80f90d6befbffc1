import type { Logger } from 'pino';
import { Dealer } from 'zeromq';
import type { ErrorCode } from '../../errors/codes.js';
import { type ErrorMessage, errorFromMessage } from '../../errors/error-message.js';
import { InferqError } from '../../errors/inferq-error.js';
import { frameValue, SendQueue, valueFrames } from './zmq-frames.js';

/** A remote fast-path worker: its id (as in the worker registry) and where it listens. */
export interface RealtimeEndpoint {
  id: string;
  endpoint: string;
}

export interface RealtimeClientOptions {
  /** How often each worker is pinged (default 500 ms). */
  heartbeatMs?: number;
  /** A worker not heard from for this long is lost: its calls move on (default 2 s). */
  deadAfterMs?: number;
  logger?: Logger;
}

export interface RealtimeCallOptions {
  /** Aborting cancels the call on the worker too (a caller that disconnected). */
  signal?: AbortSignal;
  /**
   * When the worker running a call is lost, send the call to another worker (default true):
   * the model may then run twice for one call. False fails the call instead (at most once).
   */
  resend?: boolean;
}

interface Peer {
  id: string;
  endpoint: string;
  dealer: Dealer;
  out: SendQueue;
  alive: boolean;
  lastSeen: number;
  models: readonly string[];
  inFlight: Set<string>;
  loop: Promise<void>;
}

interface Pending {
  id: string;
  model: string;
  frames: Buffer[];
  resend: boolean;
  tried: Set<string>;
  worker: string | undefined;
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
  done: () => void;
}

/**
 * The API host's end of the fast path across hosts: one ZeroMQ DEALER per remote worker
 * (so the host picks the worker, and each reply comes back on the socket that asked).
 * Workers are pinged every `heartbeatMs`; one that answers is alive and says which models it
 * serves. A call goes to the alive worker of its model with the fewest calls in flight. A
 * worker silent for `deadAfterMs` is lost: each call on it is sent to another worker of the
 * model, or fails with INFERQ_FAST_PATH_WORKER_LOST when the caller asked for at most once or
 * no other worker is left. A DEALER reconnects by itself; a worker that comes back is alive
 * again at its next pong. A send that cannot leave now (no connection) is tried elsewhere at
 * once: the call never reached a worker.
 */
export class RealtimeClient {
  readonly #peers = new Map<string, Peer>();
  readonly #pending = new Map<string, Pending>();
  readonly #heartbeatMs: number;
  readonly #deadAfterMs: number;
  readonly #logger: Logger | undefined;
  readonly #timer: NodeJS.Timeout;
  #nextId = 0;
  #closed = false;

  constructor(options: RealtimeClientOptions = {}) {
    this.#heartbeatMs = options.heartbeatMs ?? 500;
    this.#deadAfterMs = options.deadAfterMs ?? 2_000;
    this.#logger = options.logger;
    this.#timer = setInterval(() => this.#tick(), this.#heartbeatMs);
    this.#timer.unref();
  }

  /** Connects to the workers listed and drops the others (their calls move on). */
  sync(endpoints: readonly RealtimeEndpoint[]): void {
    const wanted = new Map(endpoints.map((e) => [e.id, e.endpoint]));
    for (const peer of [...this.#peers.values()]) {
      if (wanted.get(peer.id) !== peer.endpoint) this.#drop(peer);
    }
    for (const [id, endpoint] of wanted) if (!this.#peers.has(id)) this.#connect(id, endpoint);
  }

  /** Ids of the alive workers that serve `model` (`name` or `name@version`). */
  workersOf(model: string): string[] {
    return [...this.#peers.values()].filter((p) => p.alive && serves(p, model)).map((p) => p.id);
  }

  call(model: string, body: unknown, options: RealtimeCallOptions = {}): Promise<unknown> {
    if (this.#closed)
      return Promise.reject(new InferqError('INFERQ_FAST_PATH_UNAVAILABLE', 'the client is closed'));
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(cancelled());
    const id = String(this.#nextId++);
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        const pending = this.#pending.get(id);
        if (pending === undefined) return;
        this.#settle(pending);
        const peer = pending.worker === undefined ? undefined : this.#peers.get(pending.worker);
        peer?.out.send([Buffer.from('cancel'), Buffer.from(id)]).catch(() => undefined);
        reject(cancelled());
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const pending: Pending = {
        id,
        model,
        frames: valueFrames('req', id, { model, body }),
        resend: options.resend ?? true,
        tried: new Set(),
        worker: undefined,
        resolve,
        reject,
        done: () => signal?.removeEventListener('abort', onAbort),
      };
      this.#pending.set(id, pending);
      this.#dispatch(pending);
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    for (const pending of [...this.#pending.values()]) {
      this.#fail(pending, 'INFERQ_FAST_PATH_UNAVAILABLE', 'the client closed before the worker answered');
    }
    const loops = [...this.#peers.values()].map((peer) => {
      peer.dealer.close();
      return peer.loop;
    });
    this.#peers.clear();
    await Promise.all(loops);
  }

  #connect(id: string, endpoint: string): void {
    const dealer = new Dealer({
      linger: 0,
      sendTimeout: 0,
      immediate: true,
      reconnectInterval: 100,
      reconnectMaxInterval: 1_000,
    });
    dealer.connect(endpoint);
    const peer: Peer = {
      id,
      endpoint,
      dealer,
      out: new SendQueue((frames) => dealer.send(frames)),
      alive: false,
      lastSeen: 0,
      models: [],
      inFlight: new Set(),
      loop: Promise.resolve(),
    };
    peer.loop = this.#receive(peer);
    this.#peers.set(id, peer);
    this.#ping(peer);
  }

  #drop(peer: Peer): void {
    this.#peers.delete(peer.id);
    this.#lost(peer);
    peer.dealer.close();
  }

  async #receive(peer: Peer): Promise<void> {
    try {
      for await (const [kind, id, ...rest] of peer.dealer) {
        if (kind === undefined || id === undefined) continue;
        peer.lastSeen = Date.now();
        const type = kind.toString();
        if (type === 'pong') {
          const status = JSON.parse(rest[0]?.toString() ?? '{}') as { models?: string[] };
          peer.models = status.models ?? [];
          peer.alive = true;
        } else if (type === 'rep') {
          this.#answer(peer, id.toString(), [kind, id, ...rest]);
        }
      }
    } catch (err) {
      if (!this.#closed && this.#peers.get(peer.id) === peer) {
        this.#logger?.warn({ err, worker: peer.id }, 'realtime connection stopped receiving');
      }
    }
  }

  #answer(peer: Peer, id: string, frames: Buffer[]): void {
    const pending = this.#pending.get(id);
    // A late answer from a worker given up on: the call went elsewhere (or failed) already.
    if (pending === undefined || pending.worker !== peer.id) return;
    this.#settle(pending);
    try {
      const reply = frameValue(frames, 2) as { ok: true; body: unknown } | { ok: false; error: ErrorMessage };
      if (reply.ok) pending.resolve(reply.body);
      else pending.reject(errorFromMessage(reply.error));
    } catch (err) {
      pending.reject(
        new InferqError('INFERQ_INTERNAL', `unreadable reply from worker ${peer.id}`, { cause: err }),
      );
    }
  }

  #dispatch(pending: Pending): void {
    const candidates = [...this.#peers.values()].filter(
      (p) => p.alive && serves(p, pending.model) && !pending.tried.has(p.id),
    );
    const peer = candidates.sort((a, b) => a.inFlight.size - b.inFlight.size)[0];
    if (peer === undefined) {
      if (pending.tried.size === 0) {
        this.#fail(
          pending,
          'INFERQ_FAST_PATH_UNAVAILABLE',
          `no fast-path worker serving ${pending.model} is reachable`,
        );
      } else {
        this.#fail(
          pending,
          'INFERQ_FAST_PATH_WORKER_LOST',
          `the worker running this ${pending.model} call was lost and no other worker of it is reachable`,
        );
      }
      return;
    }
    pending.tried.add(peer.id);
    pending.worker = peer.id;
    peer.inFlight.add(pending.id);
    peer.out.send(pending.frames).catch(() => {
      // Not sent (no connection now): it never reached the worker, so another may take it.
      if (this.#pending.get(pending.id) !== pending || pending.worker !== peer.id) return;
      peer.inFlight.delete(pending.id);
      this.#dispatch(pending);
    });
  }

  #tick(): void {
    const now = Date.now();
    for (const peer of this.#peers.values()) {
      if (peer.alive && now - peer.lastSeen > this.#deadAfterMs) {
        this.#logger?.warn({ worker: peer.id, endpoint: peer.endpoint }, 'realtime worker lost');
        this.#lost(peer);
      }
      this.#ping(peer);
    }
  }

  #ping(peer: Peer): void {
    peer.out.send([Buffer.from('ping'), Buffer.from(String(Date.now()))]).catch(() => undefined);
  }

  /** Marks a worker lost and moves its calls on. */
  #lost(peer: Peer): void {
    peer.alive = false;
    for (const id of [...peer.inFlight]) {
      const pending = this.#pending.get(id);
      peer.inFlight.delete(id);
      if (pending === undefined) continue;
      if (pending.resend) this.#dispatch(pending);
      else {
        this.#fail(
          pending,
          'INFERQ_FAST_PATH_WORKER_LOST',
          `the worker running this ${pending.model} call was lost; it was not re-sent (resend: false), so it may or may not have run`,
        );
      }
    }
  }

  #settle(pending: Pending): void {
    this.#pending.delete(pending.id);
    if (pending.worker !== undefined) this.#peers.get(pending.worker)?.inFlight.delete(pending.id);
    pending.done();
  }

  #fail(pending: Pending, code: ErrorCode, message: string): void {
    this.#settle(pending);
    pending.reject(new InferqError(code, message));
  }
}

/** Whether a worker serves `model`: `name@version` exactly, or any version of `name`. */
function serves(peer: Peer, model: string): boolean {
  return model.includes('@')
    ? peer.models.includes(model)
    : peer.models.some((m) => m.startsWith(`${model}@`));
}

function cancelled(): InferqError {
  return new InferqError('INFERQ_CANCELLED', 'the caller cancelled the call');
}
