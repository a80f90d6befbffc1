/**
 * Entry of an onnx session thread: one `InferenceSession` and the model's processor, fed
 * batches by {@link SessionThread}. onnxruntime-node's `session.run` blocks the thread that
 * calls it for the whole inference, so it must never run on a loop that serves anything else.
 */
import { parentPort, workerData } from 'node:worker_threads';
import ort from 'onnxruntime-node';
import { InferqError } from '../errors/index.js';
import { providerLabel, providerUnavailable, wantsGpu } from './execution-providers.js';
import { loadProcessor } from './load-processor.js';
import {
  type PredictRequest,
  resultTransferables,
  type SessionThreadInit,
  serializeError,
  serializeResults,
  type ThreadMessage,
  type ThreadRequest,
} from './onnx-messages.js';
import type { OnnxSession, Tensor, TensorData } from './onnx-processor.js';

const port = parentPort;
if (port === null) throw new Error('onnx-thread must run in a worker thread');
const init = workerData as SessionThreadInit;

const post = (message: ThreadMessage, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);

interface OpenedSession {
  session: OnnxSession;
  provider: string;
  fellBack?: string;
}

function createSession(providers: SessionThreadInit['executionProviders']): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(init.model.artifactPath!, {
    executionProviders: providers,
    intraOpNumThreads: init.intraOpNumThreads,
    // Parallelism across requests comes from more threads (instances), not inter-op.
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
  });
}

/**
 * Opens the session on model.yaml's providers. onnxruntime-node refuses the whole list when one
 * GPU provider cannot start (its library is missing, no device) rather than skipping it, so the
 * CPU is a second attempt, made only when the model allows it (`fallback: cpu`).
 */
async function openSession(): Promise<OpenedSession> {
  const { model, executionProviders: providers } = init;
  try {
    return { session: wrap(await createSession(providers)), provider: providerLabel(providers[0]!) };
  } catch (cause) {
    if (!wantsGpu(providers)) throw sessionFailed(cause);
    const unavailable = providerUnavailable(model.ref, providers, cause as Error);
    if (init.fallback !== 'cpu') throw unavailable;
    try {
      return { session: wrap(await createSession(['cpu'])), provider: 'cpu', fellBack: unavailable.message };
    } catch (cpuCause) {
      throw sessionFailed(cpuCause);
    }
  }
}

function sessionFailed(cause: unknown): InferqError {
  const { model } = init;
  return new InferqError(
    'INFERQ_MODEL_LOAD_FAILED',
    `${model.ref}: cannot create an onnx session from ${model.artifactPath}: ${(cause as Error).message}`,
    { cause },
  );
}

function wrap(session: ort.InferenceSession): OnnxSession {
  return {
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    async run(feeds: Record<string, Tensor>) {
      const ortFeeds: Record<string, ort.Tensor> = {};
      for (const [name, t] of Object.entries(feeds)) {
        ortFeeds[name] = new ort.Tensor(t.type as 'float32', t.data as Float32Array, t.dims);
      }
      const outputs = await session.run(ortFeeds);
      const result: Record<string, Tensor> = {};
      for (const [name, value] of Object.entries(outputs)) {
        result[name] = { type: value.type, data: value.data as TensorData, dims: value.dims };
      }
      return result;
    },
  };
}

async function main(): Promise<void> {
  // Both must settle before anything is reported: the main thread may terminate this one
  // on a load failure, and terminating while onnxruntime is still creating the session
  // aborts the process.
  const [opened, loaded] = await Promise.allSettled([openSession(), loadProcessor(init.model)]);
  if (opened.status === 'rejected' || loaded.status === 'rejected') {
    const reason = opened.status === 'rejected' ? opened.reason : (loaded as PromiseRejectedResult).reason;
    post({ type: 'load-failed', error: serializeError(reason) });
    return;
  }
  const { session, provider, fellBack } = opened.value;
  const processor = loaded.value;
  // Two batches may be here at once (see OnnxRuntime): while one has the session, the next
  // one's inputs are decoded (sharp works on its own threads), so the session never waits for
  // decoding. A batch holds the session from its first run to its end; `cancel` drops a batch
  // that has not got it yet.
  let sessionFree: Promise<void> = Promise.resolve();
  const cancelled = new Set<number>();
  const handle = async (request: PredictRequest): Promise<void> => {
    let release: (() => void) | undefined;
    const own: OnnxSession = {
      inputNames: session.inputNames,
      outputNames: session.outputNames,
      async run(feeds) {
        if (release === undefined) {
          const previous = sessionFree;
          sessionFree = new Promise<void>((resolve) => {
            release = resolve;
          });
          await previous;
          if (cancelled.has(request.id)) throw new InferqError('INFERQ_CANCELLED', 'prediction cancelled');
          post({ type: 'started', id: request.id });
        }
        return session.run(feeds);
      },
    };
    try {
      const results = serializeResults(await processor.predict(request.batch, request.params, own));
      post({ type: 'results', id: request.id, results }, resultTransferables(results));
    } catch (err) {
      post({ type: 'failed', id: request.id, error: serializeError(err) });
    } finally {
      release?.();
      cancelled.delete(request.id);
    }
  };
  port!.on('message', (request: ThreadRequest) => {
    if (request.type === 'cancel') cancelled.add(request.id);
    else void handle(request);
  });
  post({ type: 'ready', provider, ...(fellBack === undefined ? {} : { fellBack }) });
}

void main();
