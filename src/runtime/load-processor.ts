import { pathToFileURL } from 'node:url';
import { InferqError } from '../errors/index.js';
import type { ResolvedModel } from './model-repository.js';
import type { CreateOnnxProcessor, OnnxProcessor } from './onnx-processor.js';

// Literal import paths so the bundled processors load the same from `src/*.ts` and `dist/*.js`.
const builtins: Record<string, () => Promise<{ createProcessor: CreateOnnxProcessor }>> = {
  'ocr-det': () => import('./ocr/det-processor.js'),
  'ocr-cls': () => import('./ocr/cls-processor.js'),
  'ocr-rec': () => import('./ocr/rec-processor.js'),
  tensor: () => import('./tensor-processor.js'),
};

/** The names accepted after `builtin:` in model.yaml's `processor`. */
export const builtinProcessors = Object.keys(builtins);

/** Creates the model's processor: `builtin:<name>`, a module path, or `builtin:tensor` when absent. */
export async function loadProcessor(model: ResolvedModel): Promise<OnnxProcessor> {
  const reference = model.spec.processor ?? 'builtin:tensor';
  let module: { createProcessor?: unknown };
  if (model.processorPath !== undefined) {
    module = (await import(pathToFileURL(model.processorPath).href)) as { createProcessor?: unknown };
  } else {
    const load = builtins[reference.slice('builtin:'.length)];
    if (!reference.startsWith('builtin:') || load === undefined) {
      throw new InferqError(
        'INFERQ_MODEL_SPEC_INVALID',
        `${model.specPath}: key "processor" names no built-in processor (got "${reference}"); built-ins: ${builtinProcessors.map((n) => `builtin:${n}`).join(', ')}`,
        { details: { file: model.specPath, key: 'processor', allowed: builtinProcessors } },
      );
    }
    module = await load();
  }
  if (typeof module.createProcessor !== 'function') {
    throw new InferqError('INFERQ_MODEL_LOAD_FAILED', `${reference} does not export createProcessor()`);
  }
  return (module.createProcessor as CreateOnnxProcessor)(model);
}
