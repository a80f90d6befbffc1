/**
 * Entry of one `inferq serve` worker thread (see worker-threads.ts): opens its own connections
 * to the configured backends, loads the models and runs a ModelWorker until told to stop. The
 * API's event loop thereby never runs a lease, a batch or a JS model.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import type { Runtime } from '../runtime/runtime.js';
import { openBackends } from './open-backends.js';
import { startWorkers } from './start-workers.js';
import { errorMessage, type FromHost, type ToHost, type WorkerThreadInit } from './worker-thread-messages.js';

if (parentPort === null) throw new Error('worker-thread must run in a worker thread');
const port = parentPort;
const { config } = workerData as WorkerThreadInit;
const send = (message: ToHost): void => port.postMessage(message);
const logger = pino({ level: config.log.level });
const metricsRegistry = new Registry();

try {
  const backends = await openBackends(config);
  const workers = await startWorkers({ config, backends, logger, metricsRegistry }).catch(async (err) => {
    await backends.close().catch(() => {});
    throw err;
  });
  let stopping: Promise<void> | undefined;
  port.on('message', (message: FromHost) => {
    if (message.type === 'metrics') {
      void metricsRegistry
        .getMetricsAsJSON()
        .then((metrics) => send({ type: 'metrics', id: message.id, metrics }));
    } else if (message.type === 'predict') {
      void runFast(workers.runtimes, message).then(send);
    } else if (message.type === 'stop') {
      // A second stop (with abort) while draining cuts the drain short.
      if (stopping !== undefined) {
        if (message.abort) void workers.stop({ abort: true });
        return;
      }
      stopping = workers
        .stop({ abort: message.abort })
        .then(() => backends.close())
        .then(() => {
          send({ type: 'stopped' });
          port.close();
        });
    }
  });
  send({
    type: 'ready',
    models: workers.worker.models,
    unavailable: workers.unavailable,
  });
} catch (err) {
  send({ type: 'failed', message: err instanceof Error ? err.message : String(err) });
  port.close();
}

/** Runs a fast-path batch on the warm runtime of its model, within the model's `timeoutMs`. */
async function runFast(
  runtimes: readonly Runtime[],
  message: Extract<FromHost, { type: 'predict' }>,
): Promise<ToHost> {
  const runtime = runtimes.find((r) => r.model.ref === message.ref);
  let timeout: AbortSignal | undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    if (runtime === undefined) throw new Error(`this worker thread does not serve ${message.ref}`);
    const timeoutMs = runtime.model.spec.timeoutMs;
    if (timeoutMs) {
      // A timer cleared when the batch ends, not AbortSignal.timeout: that one's timer stays
      // armed (and its signal tracked for GC) for the whole timeoutMs after every batch.
      const expiry = new AbortController();
      timer = setTimeout(() => expiry.abort(), timeoutMs);
      timeout = expiry.signal;
    }
    const results = await runtime.predict(message.inputs, message.params, timeout ? { signal: timeout } : {});
    return {
      type: 'predicted',
      id: message.id,
      results: results.map((r) => (r.ok ? r : { ok: false, error: errorMessage(r.error) })),
    };
  } catch (err) {
    const error = timeout?.aborted
      ? { code: 'INFERQ_WORK_TIMEOUT', message: `model ${message.ref} exceeded its timeoutMs` }
      : errorMessage(err);
    return { type: 'predict-failed', id: message.id, error };
  } finally {
    clearTimeout(timer);
  }
}
