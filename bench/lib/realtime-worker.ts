/**
 * The remote end of bench/realtime-zeromq.ts, run as its own process:
 * `node --import tsx bench/lib/realtime-worker.ts ENDPOINT MODEL...`. It loads the bundled
 * models named and serves them as `inferq worker --realtime` does (startRealtimeServing: fast
 * lanes batched per model.yaml over the warm runtimes), printing `ready ENDPOINT` once bound.
 */
import { bundledModelsDir, ModelRepository } from '../../src/runtime/model-repository.js';
import { loadRuntimes } from '../../src/worker/load-runtimes.js';
import { startRealtimeServing } from '../../src/worker/realtime-serving.js';

const [endpoint, ...models] = process.argv.slice(2) as [string, ...string[]];
const { runtimes } = await loadRuntimes(new ModelRepository(bundledModelsDir), { only: models });
for (const runtime of runtimes) await runtime.load();
const serving = await startRealtimeServing({ bind: endpoint, runtimes, queueLimit: 1_024 });
process.stdout.write(`ready ${serving.endpoint}\n`);
process.on('SIGTERM', () => void serving.stop().then(() => process.exit(0)));
