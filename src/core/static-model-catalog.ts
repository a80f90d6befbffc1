import type { CatalogEntry, ModelCatalog } from './model-catalog.js';

/**
 * A catalog over a fixed list of entries (read once from the model repository, or built by a
 * test). `resolve('name')` picks the highest version, compared numerically part by part.
 */
export class StaticModelCatalog implements ModelCatalog {
  readonly #entries: readonly CatalogEntry[];

  constructor(entries: readonly CatalogEntry[]) {
    this.#entries = [...entries];
  }

  list(): readonly CatalogEntry[] {
    return this.#entries;
  }

  resolve(ref: string): CatalogEntry | undefined {
    const at = ref.indexOf('@');
    const name = at === -1 ? ref : ref.slice(0, at);
    const version = at === -1 ? undefined : ref.slice(at + 1);
    const named = this.#entries.filter((e) => e.name === name);
    if (version !== undefined) return named.find((e) => e.version === version);
    return named.sort((a, b) => compareVersions(b.version, a.version))[0];
  }
}

function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.-]/);
  const pb = b.split(/[.-]/);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? '';
    const y = pb[i] ?? '';
    const nx = Number(x);
    const ny = Number(y);
    const diff =
      Number.isFinite(nx) && Number.isFinite(ny) && x !== '' && y !== '' ? nx - ny : x.localeCompare(y);
    if (diff !== 0) return diff;
  }
  return 0;
}
