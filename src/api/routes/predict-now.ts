import type { MultipartFile } from '@fastify/multipart';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { InferqError } from '../../errors/index.js';
import type { ApiContext } from '../api-context.js';
import { type FastCall, predictNow } from '../fast-predict.js';
import { type JsonInputs, jsonInputBytes, multipartError } from '../submit/read-inputs.js';
import { resolveTargets } from '../submit/resolve-targets.js';

/**
 * `POST /v1/models/{name}/predict` with `durable: false`: the one input, held in memory, runs
 * on the fast path and is answered now. No task, no blob, no queue: the answer has no task id
 * and cannot be read again. JSON bodies as a durable predict takes them; multipart bodies
 * (`?durable=false`) with a `params` field and one file.
 */
export async function predictWithoutTask(
  ctx: ApiContext,
  request: FastifyRequest,
  reply: FastifyReply,
  name: string,
  call: FastCall,
): Promise<unknown> {
  const entry = resolveTargets(ctx.catalog, [name])[0]!;
  if (entry.kind !== 'model') {
    throw new InferqError(
      'INFERQ_VALIDATION_FAILED',
      `durable: false runs one model; ${entry.name} is a pipeline, which runs durably only (leave durable out)`,
      { details: { path: 'body/durable', target: entry.name } },
    );
  }
  const { bytes, params } = request.isMultipart()
    ? await readOneFile(request)
    : jsonInput((request.body ?? {}) as JsonInputs & { params?: Record<string, unknown> });
  ctx.paramsValidator.check(entry, params);
  const outcome = await predictNow(ctx, reply, entry, bytes, params, call);
  if (outcome === undefined) {
    // The client left: nobody to answer.
    reply.hijack();
    return undefined;
  }
  return {
    target: `${entry.name}@${entry.version}`,
    targetKind: 'model',
    state: 'succeeded',
    durable: false,
    params,
    result: outcome.output,
  };
}

const tooMany = (count: number) =>
  new InferqError('INFERQ_TOO_MANY_INPUTS', 'predict takes exactly one input', {
    details: { inputs: count, limit: 1 },
  });

function jsonInput(body: JsonInputs & { params?: Record<string, unknown>; callbackUrl?: string }) {
  if (body.callbackUrl !== undefined) {
    throw new InferqError(
      'INFERQ_VALIDATION_FAILED',
      'body/callbackUrl needs a durable task to call back about; leave out durable: false or the callback',
      { details: { path: 'body/callbackUrl' } },
    );
  }
  const inputs = jsonInputBytes(body);
  if (inputs.length === 0) {
    throw new InferqError('INFERQ_VALIDATION_FAILED', 'body needs one input: text, data or inputs', {
      details: { path: 'body/text' },
    });
  }
  if (inputs.length > 1) throw tooMany(inputs.length);
  return { bytes: inputs[0]!.bytes, params: body.params ?? {} };
}

async function readOneFile(
  request: FastifyRequest,
): Promise<{ bytes: Buffer; params: Record<string, unknown> }> {
  let params: Record<string, unknown> = {};
  let bytes: Buffer | undefined;
  try {
    for await (const part of request.parts()) {
      if (part.type === 'field') {
        if (part.fieldname !== 'params' || typeof part.value !== 'string') continue;
        let parsed: unknown;
        try {
          parsed = JSON.parse(part.value);
        } catch {
          parsed = undefined;
        }
        if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
          throw new InferqError('INFERQ_VALIDATION_FAILED', 'body/params must be a JSON object', {
            details: { path: 'body/params' },
          });
        }
        params = parsed as Record<string, unknown>;
        continue;
      }
      if (bytes !== undefined) {
        (part as MultipartFile).file.resume();
        throw tooMany(2);
      }
      // Bounded by the multipart fileSize limit (blobs.maxBytes); the model's own limit next.
      bytes = await (part as MultipartFile).toBuffer();
    }
  } catch (err) {
    throw multipartError(err);
  }
  if (bytes === undefined) {
    throw new InferqError('INFERQ_VALIDATION_FAILED', 'the multipart body has no file', {
      details: { path: 'body/file' },
    });
  }
  return { bytes, params };
}
