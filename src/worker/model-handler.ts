import type { BlobStore } from '../blobs/blob-store.js';
import { paramsHash } from '../core/hash.js';
import { InferqError } from '../errors/index.js';
import type { ModelInput, Runtime } from '../runtime/runtime.js';
import { chunkByPreferredSizes } from './collect-batch.js';
import type { PipelinePixels } from './pipeline/pipeline-pixels.js';
import type { BatchHandler, ClaimedItem } from './process-batch.js';
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
        await runChunk(inputs, true);
      }
    }
    for (const [leader, indexes] of sharers) for (const index of indexes) outcomes[index] = outcomes[leader]!;
    return outcomes;

    /**
     * Runs one model call. If the call fails as a whole (not timed out, not shut down), the
     * items are run one by one, so a single poisonous input cannot fail its batch-mates.
     */
    async function runChunk(
      inputs: Array<{ index: number; input: ModelInput }>,
      bisect: boolean,
    ): Promise<void> {
      const params = items[inputs[0]!.index]!.task.params;
      const timeout = spec.timeoutMs ? AbortSignal.timeout(spec.timeoutMs) : undefined;
      // Reset when the runtime starts the batch: waiting for a free instance is batch wait.
      let started = Date.now();
      try {
        const results = await runtime.predict(
          inputs.map((i) => i.input),
          params,
          {
            signal: timeout ? AbortSignal.any([signal, timeout]) : signal,
            onStart: () => {
              started = Date.now();
            },
          },
        );
        const computeMs = Date.now() - started;
        options.onRun?.({ size: inputs.length, computeMs });
        for (const [k, { index }] of inputs.entries()) {
          const result = results[k];
          outcomes[index] =
            result === undefined
              ? outcomeFromError(new Error('runtime returned no result for this item'))
              : result.ok
                ? {
                    ok: true,
                    result: result.output,
                    timing: timing(items[index]!, batchStarted, started, computeMs, inputs.length),
                  }
                : outcomeFromError(result.error);
        }
      } catch (err) {
        if (signal.aborted) throw err; // shutting down: write nothing, the leases will expire
        if (timeout?.aborted) {
          const cause = new InferqError(
            'INFERQ_WORK_TIMEOUT',
            `model ${runtime.model.ref} exceeded timeoutMs ${spec.timeoutMs}`,
            {
              cause: err,
            },
          );
          for (const { index } of inputs) outcomes[index] = outcomeFromError(cause);
          return;
        }
        if (!bisect || inputs.length === 1) {
          for (const { index } of inputs) outcomes[index] = outcomeFromError(err);
          return;
        }
        for (const { index } of inputs) {
          // Read again: a runtime may have taken ownership of (detached) the first buffers.
          let input: ModelInput;
          try {
            input = await readInput(items[index]!);
          } catch (readError) {
            outcomes[index] = outcomeFromError(readError);
            continue;
          }
          await runChunk([{ index, input }], false);
        }
      }
    }
  };
}

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
