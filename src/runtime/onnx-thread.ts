/**
 * Entry of an onnx session thread: one `InferenceSession` and the model's processor, fed
 * batches by {@link SessionThread}. onnxruntime-node's `session.run` blocks the thread that
 * calls it for the whole inference, so it must never run on a loop that serves anything else.
 */
import { parentPort, workerData } from 'node:worker_threads';
import ort from 'onnxruntime-node';
import { InferqError } from '../errors/index.js';
import { loadProcessor } from './load-processor.js';
import {
  type PredictRequest,
  resultTransferables,
  type SessionThreadInit,
  serializeError,
  serializeResults,
  type ThreadMessage,
} from './onnx-messages.js';
import type { OnnxSession, Tensor, TensorData } from './onnx-processor.js';

const port = parentPort;
if (port === null) throw new Error('onnx-thread must run in a worker thread');
const init = workerData as SessionThreadInit;

const post = (message: ThreadMessage, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);

async function openSession(): Promise<OnnxSession> {
  const { model } = init;
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(model.artifactPath!, {
      executionProviders: init.executionProviders,
      intraOpNumThreads: init.intraOpNumThreads,
      // Parallelism across requests comes from more threads (instances), not inter-op.
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
    });
  } catch (cause) {
    throw new InferqError(
      'INFERQ_MODEL_LOAD_FAILED',
      `${model.ref}: cannot create an onnx session from ${model.artifactPath}: ${(cause as Error).message}`,
      { cause },
    );
  }
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
  const session = opened.value;
  const processor = loaded.value;
  // Requests are handled one at a time: the session is busy anyway, and the proxy only
  // counts on this thread for one batch at a time.
  let queue = Promise.resolve();
  port!.on('message', (request: PredictRequest) => {
    queue = queue.then(async () => {
      try {
        const results = serializeResults(await processor.predict(request.batch, request.params, session));
        post({ type: 'results', id: request.id, results }, resultTransferables(results));
      } catch (err) {
        post({ type: 'failed', id: request.id, error: serializeError(err) });
      }
    });
  });
  post({ type: 'ready' });
}

void main();
