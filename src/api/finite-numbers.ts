import type { FastifyRequest } from 'fastify';
import { InferqError } from '../errors/index.js';

/**
 * Ajv's type coercion turns the query string `Infinity`, `-Infinity` or `NaN` into a number and
 * checks nothing more (`+"Infinity" == "Infinity"`; `Infinity % 1` is NaN, so it even passes as
 * an integer), and `JSON.parse` reads `1e999` as Infinity. No field of this API means a
 * non-finite number, so this one rule, run after validation for every route, refuses them all:
 * a 400 naming the parameter, whatever its schema says.
 */
export async function rejectNonFiniteNumbers(request: FastifyRequest): Promise<void> {
  for (const [location, value] of [
    ['querystring', request.query],
    ['params', request.params],
    ['body', request.body],
  ] as const) {
    const pointer = findNonFinite(value, '', 0);
    if (pointer === undefined) continue;
    const path = `${location}${pointer}`;
    throw new InferqError('INFERQ_VALIDATION_FAILED', `${path} must be a finite number`, {
      details: { path, location },
    });
  }
}

/** The JSON pointer of the first non-finite number in `value`, if any. */
function findNonFinite(value: unknown, pointer: string, depth: number): string | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? undefined : pointer;
  // Bodies are parsed JSON, whose depth the parser already bounds; this only keeps the walk cheap.
  if (typeof value !== 'object' || value === null || depth > 64 || ArrayBuffer.isView(value))
    return undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findNonFinite(value[i], `${pointer}/${i}`, depth + 1);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  for (const [key, item] of Object.entries(value)) {
    const found = findNonFinite(item, `${pointer}/${key}`, depth + 1);
    if (found !== undefined) return found;
  }
  return undefined;
}
