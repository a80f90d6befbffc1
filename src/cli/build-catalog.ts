import type { Logger } from 'pino';
import type { CatalogEntry, ModelCatalog } from '../core/model-catalog.js';
import { StaticModelCatalog } from '../core/static-model-catalog.js';
import { ModelRepository } from '../runtime/model-repository.js';
import { readPipelines } from '../runtime/read-pipelines.js';

/**
 * The catalog the API serves: every model and pipeline of the repository, read once at start.
 * A pipeline is available when every model its steps run is.
 */
export async function buildCatalog(
  dir: string,
  logger: Logger,
  unavailable: Readonly<Record<string, string>> = {},
): Promise<ModelCatalog> {
  try {
    const models = await new ModelRepository(dir).list();
    const entries: CatalogEntry[] = models.map((m) => ({
      kind: 'model',
      name: m.spec.name,
      version: m.spec.version,
      spec: m.spec,
      ...availability(m.ref, m.spec.name, unavailable),
    }));
    const { pipelines, invalid } = await readPipelines(dir, models);
    for (const [file, err] of Object.entries(invalid)) logger.error({ err, file }, 'pipeline is invalid');
    for (const p of pipelines) {
      const down = entries.find((e) => !e.available && p.steps.some((step) => step.model?.name === e.name));
      const own = availability(`${p.name}@${p.version}`, p.name, unavailable);
      entries.push({
        kind: 'pipeline',
        name: p.name,
        version: p.version,
        spec: p.spec,
        pipeline: p,
        ...(down ? { available: false, unavailableReason: `model ${down.name} is unavailable` } : own),
      });
    }
    return new StaticModelCatalog(entries);
  } catch (err) {
    // A broken model.yaml must not keep the API down: serve nothing, say why.
    logger.error({ err, dir }, 'model repository unreadable; serving no models');
    return new StaticModelCatalog([]);
  }
}

/** A model this host could not load is listed, marked unavailable with the reason. */
function availability(
  ref: string,
  name: string,
  unavailable: Readonly<Record<string, string>>,
): { available: boolean; unavailableReason?: string } {
  const reason = unavailable[ref] ?? unavailable[name];
  return reason === undefined ? { available: true } : { available: false, unavailableReason: reason };
}
