import type { ExecutionProvider } from '../core/model-spec.js';
import { InferqError } from '../errors/index.js';

/** How each GPU provider gets into onnxruntime-node, whose npm package ships only the CPU one. */
const installHint: Readonly<Record<string, string>> = {
  cuda: 'install onnxruntime-node with CUDA 12 support: ONNXRUNTIME_NODE_INSTALL=cuda12 npm install (CUDA 12 and cuDNN 9 on the host)',
  tensorrt:
    'install onnxruntime-node with CUDA 12 support (ONNXRUNTIME_NODE_INSTALL=cuda12 npm install) and TensorRT 10 on the host',
};

/** A provider's label as GET /v1/models shows it: `cpu`, `cuda`, `cuda:1`. */
export function providerLabel(provider: ExecutionProvider): string {
  return typeof provider === 'string' ? provider : `${provider.name}:${provider.deviceId}`;
}

/** The first GPU provider of the list: the one a failed session could not start. */
function firstGpu(providers: readonly ExecutionProvider[]): ExecutionProvider | undefined {
  return providers.find((p) => p !== 'cpu');
}

/**
 * The error for a session that could not start on its providers: names the model, the provider
 * and how to install it, and says that `fallback: cpu` would run it on the CPU instead.
 */
export function providerUnavailable(
  ref: string,
  providers: readonly ExecutionProvider[],
  cause: Error,
): InferqError {
  const gpu = firstGpu(providers);
  const name = gpu === undefined ? 'cpu' : typeof gpu === 'string' ? gpu : gpu.name;
  const label = gpu === undefined ? 'cpu' : providerLabel(gpu);
  return new InferqError(
    'INFERQ_MODEL_LOAD_FAILED',
    `${ref}: execution provider ${label} cannot start in the installed onnxruntime-node (${cause.message}); ` +
      `${installHint[name] ?? 'check the onnxruntime installation'}, or set fallback: cpu in its model.yaml to run it on the CPU`,
    { cause, details: { model: ref, provider: label } },
  );
}

/** True when the list asks for something the CPU-only fallback would change. */
export function wantsGpu(providers: readonly ExecutionProvider[]): boolean {
  return firstGpu(providers) !== undefined;
}
