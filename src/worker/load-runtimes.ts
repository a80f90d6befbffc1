import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { createRuntime } from '../runtime/create-runtime.js';
import type { ModelRepository, ResolvedModel } from '../runtime/model-repository.js';
import type { Runtime, RuntimeOptions } from '../runtime/runtime.js';

export interface LoadedRuntimes {
  runtimes: Runtime[];
  /** `name` or `name@version` → why it could not be loaded (shown as unavailable). */
  unavailable: Record<string, string>;
}

/**
 * Loads every model of the repository (or only `only`). A model whose spec or files are bad is
 * reported and skipped: the worker serves the others instead of refusing to start.
 */
export async function loadRuntimes(
  repository: ModelRepository,
  options: { only?: readonly string[]; runtime?: RuntimeOptions; logger?: Logger } = {},
): Promise<LoadedRuntimes> {
  const runtimes: Runtime[] = [];
  const unavailable: Record<string, string> = {};
  const models: ResolvedModel[] = [];
  if (options.only && options.only.length > 0) {
    for (const name of options.only) {
      const [modelName, version] = name.split('@') as [string, string | undefined];
      try {
        models.push(await repository.get(modelName, version));
      } catch (err) {
        unavailable[name] = (err as Error).message;
      }
    }
  } else {
    // Model by model, so one bad model.yaml or missing file does not hide the others.
    for (const entry of await readdir(repository.dir, { withFileTypes: true })) {
      if (!entry.isDirectory() || !existsSync(path.join(repository.dir, entry.name, 'model.yaml'))) continue;
      try {
        models.push(await repository.get(entry.name));
      } catch (err) {
        unavailable[entry.name] = (err as Error).message;
        options.logger?.error({ model: entry.name, err }, 'model is invalid; serving the others');
      }
    }
  }
  for (const model of models) {
    const runtime = createRuntime(model, options.runtime);
    try {
      await runtime.load();
      runtimes.push(runtime);
      const provider = runtime.executionProvider;
      options.logger?.info(
        {
          model: model.ref,
          runtime: model.spec.runtime,
          ...(provider ? { provider: provider.provider } : {}),
        },
        'model loaded',
      );
      if (provider?.fellBack) {
        options.logger?.warn({ model: model.ref, reason: provider.fellBack }, 'model falls back to the CPU');
      }
    } catch (err) {
      unavailable[model.ref] = (err as Error).message;
      options.logger?.error({ model: model.ref, err }, 'model could not be loaded; serving the others');
      await runtime.unload().catch(() => {});
    }
  }
  return { runtimes, unavailable };
}
