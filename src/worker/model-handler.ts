import type { BlobStore } from '../blobs/blob-store.js';
import { paramsHash } from '../core/hash.js';
import { InferqError, isInferqError } from '../errors/index.js';
import type { ModelInput, PredictResult, Runtime } from '../runtime/runtime.js';
import { chunkByPreferredSizes } from './collect-batch.js';
import type { PipelinePixels } from './pipeline/pipeline-pixels.js';
import type { BatchHandler, ClaimedItem } from './process-batch.js';
import { runApartOnFailure } from './run-apart-on-failure.js';
import { outcomeFromError, type WorkOutcome } from './work-outcome.js';

export interface ModelHandlerOptions {
  runtime: Runtime;
  blobs: BlobStore;
  /**
   * Decoded pixels of images made by pipeline steps of this process: an image model is given
   * those as `{ image }` instead of the blob's bytes to decode.
   */
  pixels?: PipelinePixels;
  /** Called once per model run with the batch size achieved and its timings (metrics). */
  onRun?: (run: { size: number; computeMs: number }) => void;
}

/**
 * Turns claimed tasks into model runs: reads each input from the blob store, groups items by
 * params (a run shares its params), splits groups into preferred batch sizes, and maps each
 * result back to its task. An input that cannot be read fails only its own task.
 *
 * Items of a batch with the same input and params (the same image submitted twice, the same
 * crop in two OCR pages) are run once and share the outcome, unless the model says its results
 * must not be shared (`cache: false`): the result cache only answers repeats of finished work,
 * so work that is in flight together is shared here.
 */
export function createModelHandler(options: ModelHandlerOptions): BatchHandler {
  const { runtime, blobs } = options;
  const spec = runtime.model.spec;
  const pixels = spec.input.kind === 'image' ? options.pixels : undefined;
  const readInput = (item: ClaimedItem) => readItem(blobs, pixels, item);
  return async (items, signal) => {
    const outcomes: WorkOutcome[] = new Array(items.length);
    const groups = new Map<string, number[]>();
    // The first item of each (params, input), and the identical items that take its outcome.
    const leaders = new Map<string, number>();
    const sharers = new Map<number, number[]>();
    for (const [index, item] of items.entries()) {
      const key = item.task.paramsHash ?? paramsHash(item.task.params);
      const same = `${key} ${item.task.input.sha256}`;
      const leader = spec.cache === false ? undefined : leaders.get(same);
      if (leader !== undefined) {
        sharers.set(leader, [...(sharers.get(leader) ?? []), index]);
        continue;
      }
      leaders.set(same, index);
      groups.set(key, [...(groups.get(key) ?? []), index]);
    }
    const batchStarted = Date.now();
    for (const indexes of groups.values()) {
      for (const chunk of chunkByPreferredSizes(indexes, spec.batching?.preferredBatchSizes)) {
        // Read the chunk's inputs concurrently: each read is several file-system round trips.
        const reads = await Promise.allSettled(chunk.map((index) => readInput(items[index]!)));
        const inputs: Array<{ index: number; input: ModelInput }> = [];
        for (const [k, read] of reads.entries()) {
          const index = chunk[k]!;
          if (read.status === 'fulfilled') inputs.push({ index, input: read.value });
          else outcomes[index] = outcomeFromError(read.reason);
        }
        if (inputs.length === 0) continue;
        await runChunk(inputs);
      }
    }
    for (const [leader, indexes] of sharers) for (const index of indexes) outcomes[index] = outcomes[leader]!;
    return outcomes;

    /**
     * Runs one chunk's model call and writes its items' outcomes. A call that fails as a whole
     * (not timed out, not shut down) is run again one input at a time, so a single poisonous
     * input cannot fail its batch-mates: {@link runApartOnFailure}, the fast lanes' rule too.
     */
    async function runChunk(inputs: Array<{ index: number; input: ModelInput }>): Promise<void> {
      let first = true;
      const results = await runApartOnFailure(
        inputs,
        async (batch) => {
          // A run of one after the batch's: read its input again, since a runtime may have
          // taken ownership of (detached) the first buffers.
          const fresh = first
            ? batch
            : await Promise.all(
                batch.map(async ({ index }) => ({ index, input: await readInput(items[index]!) })),
              );
          first = false;
          return runOnce(fresh);
        },
        // Shutting down: nothing of the batch is written (below), so nothing is run again.
        { splits: (err) => !signal.aborted && !isWorkTimeout(err), failure: outcomeFromError },
      );
      // Shutting down: write nothing, the leases will expire.
      if (signal.aborted) throw new InferqError('INFERQ_CANCELLED', 'the worker is shutting down');
      for (const [k, { index }] of inputs.entries()) outcomes[index] = results[k]!;
    }

    /** One model call within the model's `timeoutMs`: one outcome per input, or a throw. */
    async function runOnce(
      inputs: ReadonlyArray<{ index: number; input: ModelInput }>,
    ): Promise<WorkOutcome[]> {
      const params = items[inputs[0]!.index]!.task.params;
      const timeout = spec.timeoutMs ? AbortSignal.timeout(spec.timeoutMs) : undefined;
      // Reset when the runtime starts the batch: waiting for a free instance is batch wait.
      let started = Date.now();
      let results: PredictResult[];
      try {
        results = await runtime.predict(
          inputs.map((i) => i.input),
          params,
          {
            signal: timeout ? AbortSignal.any([signal, timeout]) : signal,
            onStart: () => {
              started = Date.now();
            },
          },
        );
      } catch (err) {
        if (!signal.aborted && timeout?.aborted) {
          throw new InferqError(
            'INFERQ_WORK_TIMEOUT',
            `model ${runtime.model.ref} exceeded timeoutMs ${spec.timeoutMs}`,
            { cause: err },
          );
        }
        throw err;
      }
      const computeMs = Date.now() - started;
      options.onRun?.({ size: inputs.length, computeMs });
      return inputs.map(({ index }, k): WorkOutcome => {
        const result = results[k];
        if (result === undefined)
          return outcomeFromError(new Error('runtime returned no result for this item'));
        return result.ok
          ? {
              ok: true,
              result: result.output,
              timing: timing(items[index]!, batchStarted, started, computeMs, inputs.length),
            }
          : outcomeFromError(result.error);
      });
    }
  };
}

/** The model ran past its `timeoutMs`: running its inputs again alone would time out again. */
const isWorkTimeout = (err: unknown): boolean => isInferqError(err) && err.code === 'INFERQ_WORK_TIMEOUT';

async function readItem(
  blobs: BlobStore,
  pixels: PipelinePixels | undefined,
  item: ClaimedItem,
): Promise<ModelInput> {
  const image = pixels?.take(item.task.input.sha256);
  if (image !== undefined) return { image };
  const bytes = await blobs.readBytes(item.task.input.sha256);
  return {
    bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    mediaType: item.task.input.mediaType,
  };
}

/** The stage timings written into the task's timeline with its result. */
function timing(item: ClaimedItem, batchStarted: number, started: number, computeMs: number, size: number) {
  return {
    queueWaitMs: Math.max(0, batchStarted - item.job.enqueuedAt),
    batchWaitMs: Math.max(0, started - batchStarted),
    computeMs,
    batchSize: size,
  };
}
