import type { CatalogEntry, ModelCatalog } from '../../core/model-catalog.js';
import { InferqError } from '../../errors/index.js';

/**
 * Resolves every ref or fails with the list of what exists, so a typo is fixed in one go. Refs
 * naming the same model version (`echo`, `echo@1.0.0`) give one entry: one task per input each.
 */
export function resolveTargets(catalog: ModelCatalog, refs: readonly string[]): CatalogEntry[] {
  const unique = [...new Set(refs)];
  const entries = new Map<string, CatalogEntry>();
  const unknown: string[] = [];
  for (const ref of unique) {
    const entry = catalog.resolve(ref);
    if (entry === undefined || !entry.available) unknown.push(ref);
    else entries.set(`${entry.name}@${entry.version}`, entry);
  }
  if (unknown.length > 0) {
    const available = catalog
      .list()
      .filter((e) => e.available)
      .map((e) => `${e.name}@${e.version}`);
    throw new InferqError(
      'INFERQ_MODEL_NOT_FOUND',
      `no model or pipeline ${unknown.map((r) => `"${r}"`).join(', ')}; available: ${available.join(', ') || '(none)'}`,
      { details: { unknown, available } },
    );
  }
  return [...entries.values()];
}
