import { HttpRuntime } from './http-runtime.js';
import { JsRuntime } from './js-runtime.js';
import type { ResolvedModel } from './model-repository.js';
import { OnnxRuntime } from './onnx-runtime.js';
import type { Runtime, RuntimeOptions } from './runtime.js';

/**
 * The runtime model.yaml's `runtime` names, not yet loaded: call `load()` before `predict()`.
 *
 * @example
 * const model = await new ModelRepository(bundledModelsDir).get('ocr-det');
 * const runtime = createRuntime(model);
 * await runtime.load();
 * const [result] = await runtime.predict([{ bytes: png }]);
 */
export function createRuntime(model: ResolvedModel, options: RuntimeOptions = {}): Runtime {
  switch (model.spec.runtime) {
    case 'onnx':
      return new OnnxRuntime(model, options);
    case 'js':
      return new JsRuntime(model);
    case 'http':
      return new HttpRuntime(model);
  }
}
