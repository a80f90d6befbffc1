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

/** The models and pipelines a deployment serves (read from the model repository at start). */
export interface ModelCatalog {
  list(): readonly CatalogEntry[];
  /** `name` (latest version) or `name@version`; undefined when unknown. */
  resolve(ref: string): CatalogEntry | undefined;
}
