import type { Logger } from 'pino';
import { type ErrorMessage, errorFromMessage } from '../errors/error-message.js';
import { RealtimeClient } from '../queue/zeromq/realtime-client.js';
import type { ModelInput, PredictParams, PredictResult } from '../runtime/runtime.js';
import type { WorkerRegistry } from '../store/worker-registry.js';
import type { FastCallOptions, FastPath } from './fast-path.js';
import { isLiveWorker } from './serving-workers.js';

/** A fast-path item's outcome as a remote worker sends it back (an error as code + message). */
export type RemoteFastResult = { ok: true; output: unknown } | { ok: false; error: ErrorMessage };

/**
 * The fast path of an API host without workers of its own: each call goes over ZeroMQ to a
 * remote worker started with `--realtime` (RealtimeClient picks the worker and moves the call
 * on when one is lost), which batches it with the other fast calls of that model there.
 */
export class RemoteFastPath implements FastPath {
  readonly #client: RealtimeClient;

  constructor(client: RealtimeClient) {
    this.#client = client;
  }

  serves(ref: string): boolean {
    return this.#client.workersOf(ref).length > 0;
  }

  async infer(
    ref: string,
    input: ModelInput,
    params: PredictParams,
    signal?: AbortSignal,
    options: FastCallOptions = {},
  ): Promise<PredictResult> {
    const result = (await this.#client.call(
      ref,
      { input, params },
      {
        ...(signal === undefined ? {} : { signal }),
        ...(options.resend === undefined ? {} : { resend: options.resend }),
      },
    )) as RemoteFastResult;
    return result.ok ? result : { ok: false, error: errorFromMessage(result.error) };
  }
}

/** The first of `paths` that serves a model takes its calls (this process's workers, then remote ones). */
export function firstServing(...paths: ReadonlyArray<FastPath | undefined>): FastPath | undefined {
  const present = paths.filter((p): p is FastPath => p !== undefined);
  if (present.length <= 1) return present[0];
  const pick = (ref: string) => present.find((p) => p.serves(ref));
  return {
    serves: (ref) => pick(ref) !== undefined,
    infer: (ref, input, params, signal, options) =>
      (pick(ref) ?? present[0]!).infer(ref, input, params, signal, options),
  };
}

/**
 * The remote fast path of an API host: a RealtimeClient kept in step with the worker registry
 * (every `intervalMs`, the running workers whose heartbeat advertises a ZeroMQ endpoint).
 */
export function startRemoteFastPath(options: {
  registry: WorkerRegistry;
  intervalMs?: number;
  logger?: Logger;
}): { fastPath: RemoteFastPath; client: RealtimeClient; stop(): Promise<void> } {
  const client = new RealtimeClient(options.logger ? { logger: options.logger } : {});
  const sync = async () => {
    try {
      const now = Date.now();
      const workers = await options.registry.list();
      client.sync(
        workers.flatMap((w) =>
          w.realtime !== undefined && isLiveWorker(w, now) ? [{ id: w.id, endpoint: w.realtime }] : [],
        ),
      );
    } catch (err) {
      options.logger?.warn({ err }, 'could not read the worker registry for the fast path');
    }
  };
  void sync();
  const timer = setInterval(() => void sync(), options.intervalMs ?? 2_000);
  timer.unref();
  return {
    fastPath: new RemoteFastPath(client),
    client,
    async stop() {
      clearInterval(timer);
      await client.close();
    },
  };
}
