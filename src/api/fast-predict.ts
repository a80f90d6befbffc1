import type { FastifyReply } from 'fastify';
import { sniffMediaType } from '../blobs/sniff-media-type.js';
import type { CatalogEntry } from '../core/model-catalog.js';
import { InferqError } from '../errors/index.js';
import type { PredictParams } from '../runtime/runtime.js';
import type { ApiContext } from './api-context.js';
import { checkInputBytes, inputByteLimit } from './submit/check-input.js';

/** What {@link predictNow} gives back: the output, or nothing when the caller already left. */
export type FastOutcome = { output: unknown } | undefined;

/**
 * One input to a model on the fast path: held to the model's byte and media-type limits as a
 * durable submission is (nothing is stored; pixels are the worker's, see checkInputBytes), run
 * by a warm worker, answered now. A caller
 * that disconnects while its request waits cancels it (the reply's 'close').
 */
export async function predictNow(
  ctx: ApiContext,
  reply: FastifyReply,
  entry: Extract<CatalogEntry, { kind: 'model' }>,
  bytes: Buffer,
  params: PredictParams,
): Promise<FastOutcome> {
  const ref = `${entry.name}@${entry.version}`;
  const fast = ctx.fastPath;
  if (fast === undefined || !fast.serves(ref)) {
    throw new InferqError(
      'INFERQ_FAST_PATH_UNAVAILABLE',
      `no worker serves ${ref} on the fast path: none in this server process (started with --no-workers, or the model did not load) and no remote worker started with --realtime answers; use a durable predict`,
      { details: { model: ref } },
    );
  }
  const limit = inputByteLimit([entry], ctx.config.blobs.maxBytes);
  if (bytes.byteLength > limit) {
    throw new InferqError('INFERQ_INPUT_TOO_LARGE', `${entry.name} takes inputs up to ${limit} bytes`, {
      details: { limit, size: bytes.byteLength, target: entry.name },
    });
  }
  if (bytes.byteLength === 0) throw new InferqError('INFERQ_INPUT_EMPTY', 'the input is empty');
  const { mediaType } = await sniffMediaType(bytes);
  await checkInputBytes({ size: bytes.byteLength, mediaType }, async () => bytes, [entry], {
    images: false,
  });
  const gone = new AbortController();
  const abort = () => gone.abort();
  // The response's 'close' comes when the client disconnects (or once the answer is sent).
  reply.raw.once('close', abort);
  if (reply.raw.destroyed) abort();
  try {
    const input = { bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), mediaType };
    const result = await fast.infer(ref, input, params, gone.signal);
    if (reply.raw.destroyed) return undefined;
    if (!result.ok) throw result.error;
    return { output: result.output };
  } catch (err) {
    if (gone.signal.aborted) return undefined;
    throw err;
  } finally {
    reply.raw.off('close', abort);
  }
}
