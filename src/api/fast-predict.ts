import type { FastifyReply } from 'fastify';
import { sniffMediaType } from '../blobs/sniff-media-type.js';
import type { CatalogEntry } from '../core/model-catalog.js';
import { InferqError } from '../errors/index.js';
import type { PredictParams } from '../runtime/runtime.js';
import type { ApiContext } from './api-context.js';
import type { FastCallOptions } from './fast-path.js';
import { checkInputBytes, inputByteLimit } from './submit/check-input.js';

/** What {@link predictNow} gives back: the output, or nothing when the caller already left. */
export type FastOutcome = { output: unknown } | undefined;

/** How one fast call is bounded and sent. */
export interface FastCall extends FastCallOptions {
  /**
   * How long the caller waits, queue and run together: past it the call answers 504
   * INFERQ_FAST_PATH_TIMEOUT and its item is cancelled (taken out of the queue if it has not
   * run, its answer dropped if it is running).
   */
  timeoutMs: number;
}

/**
 * One input to a model on the fast path: held to the model's byte and media-type limits as a
 * durable submission is (nothing is stored; pixels are the worker's, see checkInputBytes), run
 * by a warm worker, answered now. A caller that disconnects while its request waits cancels it
 * (the reply's 'close'); so does the end of `call.timeoutMs`, which answers
 * INFERQ_FAST_PATH_TIMEOUT.
 */
export async function predictNow(
  ctx: ApiContext,
  reply: FastifyReply,
  entry: Extract<CatalogEntry, { kind: 'model' }>,
  bytes: Buffer,
  params: PredictParams,
  call: FastCall,
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
  let timer: NodeJS.Timeout | undefined;
  let timedOut = false;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      timedOut = true;
      reject(
        new InferqError(
          'INFERQ_FAST_PATH_TIMEOUT',
          `${ref} did not answer within ${call.timeoutMs} ms on the fast path; the call was cancelled (nothing is stored): retry, raise ?timeoutMs (at most api.predictTimeout), or use a durable predict`,
          { details: { model: ref, timeoutMs: call.timeoutMs } },
        ),
      );
      gone.abort();
    }, call.timeoutMs);
  });
  try {
    const input = { bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), mediaType };
    const options = call.resend === undefined ? undefined : { resend: call.resend };
    const result = await Promise.race([fast.infer(ref, input, params, gone.signal, options), expired]);
    if (reply.raw.destroyed) return undefined;
    if (!result.ok) throw result.error;
    return { output: result.output };
  } catch (err) {
    // The caller left (not the deadline): nobody to answer.
    if (gone.signal.aborted && !timedOut) return undefined;
    throw err;
  } finally {
    clearTimeout(timer);
    reply.raw.off('close', abort);
  }
}
