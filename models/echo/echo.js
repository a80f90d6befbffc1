// The echo model (runtime: js). Plain JavaScript so it loads the same from a checkout and from
// the published package, which ships models/ but not the TypeScript sources.
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

/** Nothing to load: the function exists to show the shape of a JS model module. */
export function load() {}

/**
 * @param {ReadonlyArray<{ bytes: Uint8Array } | { image: { data: Uint8Array } } | { value: unknown }>} inputs
 * @param {Record<string, unknown>} params
 * @param {{ signal?: AbortSignal }} context
 * @returns {Promise<Array<{ sha256: string, bytes: number, params: Record<string, unknown> }>>}
 */
export async function predict(inputs, params, context) {
  const { delayMs = 0 } = params;
  if (typeof delayMs !== 'number' || !Number.isInteger(delayMs) || delayMs < 0 || delayMs > 600_000) {
    // An Error with an inferq code keeps it: a bad param is the client's mistake, never retried.
    throw Object.assign(new Error('param "delayMs" must be an integer from 0 to 600000'), {
      code: 'INFERQ_VALIDATION_FAILED',
    });
  }
  // Once per batch, not per item: a model's latency is per run, which is what batching buys.
  if (delayMs > 0) await sleep(delayMs, undefined, context.signal ? { signal: context.signal } : {});
  return inputs.map((input) => {
    const bytes = bytesOf(input);
    return { sha256: createHash('sha256').update(bytes).digest('hex'), bytes: bytes.byteLength, params };
  });
}

/** @param {{ bytes: Uint8Array } | { image: { data: Uint8Array } } | { value: unknown }} input */
function bytesOf(input) {
  if ('bytes' in input) return input.bytes;
  if ('image' in input) return input.image.data;
  return Buffer.from(JSON.stringify(input.value ?? null));
}
