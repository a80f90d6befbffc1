import type { CatalogEntry, ModelCatalog } from '../../core/model-catalog.js';
import { InferqError } from '../../errors/index.js';

/** Resolves every ref or fails with the list of what exists, so a typo is fixed in one go. */
export function resolveTargets(catalog: ModelCatalog, refs: readonly string[]): CatalogEntry[] {
  const unique = [...new Set(refs)];
  const entries: CatalogEntry[] = [];
  const unknown: string[] = [];
  for (const ref of unique) {
    const entry = catalog.resolve(ref);
    if (entry === undefined || !entry.available) unknown.push(ref);
    else entries.push(entry);
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
  return entries;
}
