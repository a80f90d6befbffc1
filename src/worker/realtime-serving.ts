import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { errorMessage } from '../errors/error-message.js';
import { RealtimeServer } from '../queue/zeromq/realtime-server.js';
import type { ModelInput, PredictParams, Runtime } from '../runtime/runtime.js';
import { FastLanes } from './fast-lanes.js';

export interface RealtimeServing {
  /** Where API hosts reach this worker (the advertised endpoint, else the bound one). */
  endpoint: string;
  stop(): Promise<void>;
}

/**
 * The fast path of a worker process for API hosts on other machines: a ZeroMQ ROUTER on `bind`
 * whose calls go into this process's fast lanes (batched per model as model.yaml says, bounded
 * by `queueLimit`) over the warm runtimes that also serve the durable queue. The worker's
 * heartbeat carries {@link RealtimeServing.endpoint}, which is how API hosts find it.
 */
export async function startRealtimeServing(options: {
  bind: string;
  /** The endpoint to advertise when `bind` is not reachable as written (0.0.0.0, a NAT). */
  advertise?: string;
  runtimes: readonly Runtime[];
  queueLimit: number;
  registry?: Registry;
  logger?: Logger;
}): Promise<RealtimeServing> {
  const byRef = new Map(options.runtimes.map((r) => [`${r.model.spec.name}@${r.model.spec.version}`, r]));
  const lanes = new FastLanes({
    models: [...byRef].map(([ref, runtime]) => ({ ref, spec: runtime.model.spec })),
    // The frames' bytes belong to ZeroMQ, and an onnx runtime transfers (detaches) its inputs
    // to its thread: each run gets its own copy, so a batch run again item by item still has them.
    run: (ref, inputs, params) => byRef.get(ref)!.predict(inputs.map(ownBytes), params),
    copies: 1,
    queueLimit: options.queueLimit,
    ...(options.registry ? { registry: options.registry } : {}),
  });
  const server = await RealtimeServer.bind({
    bind: options.bind,
    models: () => [...byRef.keys()],
    ...(options.logger ? { logger: options.logger } : {}),
    async handle({ model, body, signal }) {
      const { input, params } = body as { input: ModelInput; params?: PredictParams };
      const result = await lanes.infer(model, input, params ?? {}, signal);
      return result.ok ? result : { ok: false, error: errorMessage(result.error) };
    },
  });
  return {
    endpoint: options.advertise ?? server.endpoint,
    async stop() {
      await server.close();
      await lanes.stop();
    },
  };
}

const ownBytes = (input: ModelInput): ModelInput =>
  'bytes' in input ? { ...input, bytes: new Uint8Array(input.bytes) } : input;
