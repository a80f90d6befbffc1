import type { CompiledPipeline } from './check-pipeline.js';
import type { ModelSpec } from './model-spec.js';
import type { PipelineSpec } from './pipeline-spec.js';

/** One servable target as the API and workers see it. */
export type CatalogEntry =
  | {
      kind: 'model';
      name: string;
      version: string;
      spec: ModelSpec;
      available: boolean;
      unavailableReason?: string;
    }
  | {
      kind: 'pipeline';
      name: string;
      version: string;
      spec: PipelineSpec;
      /** The checked pipeline: step models resolved, with their params schemas. */
      pipeline: CompiledPipeline;
      available: boolean;
      unavailableReason?: string;
    };

/**
 * Whether a repeat submission to `entry` may be answered from the result cache: unless its
 * model.yaml says `cache: false`, or (a pipeline) its spec or one of its models does.
 */
export function isCacheable(entry: CatalogEntry): boolean {
  return entry.kind === 'model' ? entry.spec.cache !== false : entry.pipeline.cache;
}

/** The models and pipelines a deployment serves (read from the model repository at start). */
export interface ModelCatalog {
  list(): readonly CatalogEntry[];
  /** `name` (latest version) or `name@version`; undefined when unknown. */
  resolve(ref: string): CatalogEntry | undefined;
}
