/**
 * The remote end of bench/realtime-zeromq.ts, run as its own process:
 * `node --import tsx bench/lib/realtime-worker.ts ENDPOINT MODEL...`. It loads the bundled
 * models named and answers each fast-path call `{ input, params }` with the model's result,
 * printing `ready ENDPOINT` once bound.
 */
import { RealtimeServer } from '../../src/queue/zeromq/realtime-server.js';
import { bundledModelsDir, ModelRepository } from '../../src/runtime/model-repository.js';
import type { ModelInput, PredictParams } from '../../src/runtime/runtime.js';
import { loadRuntimes } from '../../src/worker/load-runtimes.js';

const [endpoint, ...models] = process.argv.slice(2) as [string, ...string[]];
const { runtimes } = await loadRuntimes(new ModelRepository(bundledModelsDir), { only: models });
for (const runtime of runtimes) await runtime.load();
const byName = new Map(runtimes.map((r) => [r.model.spec.name, r]));
const server = await RealtimeServer.bind({
  bind: endpoint,
  models: () => runtimes.map((r) => `${r.model.spec.name}@${r.model.spec.version}`),
  async handle({ model, body }) {
    const { input, params } = body as { input: ModelInput; params?: PredictParams };
    const [result] = await byName.get(model.split('@')[0]!)!.predict([input], params ?? {});
    if (!result!.ok) throw result!.error;
    return result!.output;
  },
});
process.stdout.write(`ready ${server.endpoint}\n`);
process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
