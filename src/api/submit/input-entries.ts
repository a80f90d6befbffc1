import type { CatalogEntry, ModelCatalog } from '../../core/model-catalog.js';
import { pipelineInputRef, stepSources } from '../../core/pipeline-spec.js';

/**
 * The entries an input is checked against: models as they are, and for a pipeline the models
 * of its steps that read the task input (`from: $input`), so a pipeline refuses at submission
 * what its first model would refuse in the worker (media type, bytes, pixels).
 */
export function inputEntries(catalog: ModelCatalog, entries: readonly CatalogEntry[]): CatalogEntry[] {
  const out: CatalogEntry[] = [];
  for (const entry of entries) {
    if (entry.kind === 'model') {
      out.push(entry);
      continue;
    }
    for (const step of entry.spec.steps) {
      if (step.model === undefined || !stepSources(step).includes(pipelineInputRef)) continue;
      const model = catalog.resolve(step.model);
      if (model !== undefined && !out.includes(model)) out.push(model);
    }
  }
  return out;
}
