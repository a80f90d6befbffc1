/**
 * The worker thread of bench/baselines/fastify-model-thread-service.ts: loads the bundled echo
 * and ocr-cls runtimes (as inferq's workers do) and runs each message's bytes as a batch of one.
 */
import { parentPort } from 'node:worker_threads';
import { bundledModelsDir, ModelRepository } from '../../src/runtime/model-repository.js';
import { loadRuntimes } from '../../src/worker/load-runtimes.js';

const port = parentPort!;
const { runtimes } = await loadRuntimes(new ModelRepository(bundledModelsDir), { only: ['echo', 'ocr-cls'] });
const byName = new Map(runtimes.map((r) => [r.model.spec.name, r]));
port.on('message', async (message: { id: number; model: string; bytes: Uint8Array }) => {
  const [result] = await byName.get(message.model)!.predict([{ bytes: message.bytes }]);
  port.postMessage({
    type: 'result',
    id: message.id,
    result: result?.ok ? result.output : { error: String(result?.error) },
  });
});
port.postMessage({ type: 'ready' });
