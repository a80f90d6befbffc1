import type { Readable } from 'node:stream';
import type { MultipartFile, MultipartValue } from '@fastify/multipart';
import type { FastifyRequest } from 'fastify';
import { canonicalJson } from '../../core/hash.js';
import type { CatalogEntry } from '../../core/model-catalog.js';
import { InferqError, isInferqError } from '../../errors/index.js';
import type { ApiContext } from '../api-context.js';
import { checkInput, inputByteLimit } from './check-input.js';
import { inputEntries } from './input-entries.js';
import type { SubmissionBlobs } from './submission-blobs.js';
import type { StoredInput, SubmissionFields } from './submit-tasks.js';

/**
 * A client file name is metadata only: never a path. Directory parts, control and odd
 * characters are dropped so that the name is safe to show and log; nothing is left → null.
 */
export function safeFileName(name: string | undefined): string | null {
  if (name === undefined) return null;
  const base = name.split(/[\\/]/).pop() ?? '';
  const cleaned = base
    .normalize('NFC')
    .replace(/[^\p{L}\p{N} ._()+,=@-]/gu, '_')
    .replace(/^\.+/, '')
    .slice(0, 255);
  return cleaned === '' ? null : cleaned;
}

/** JSON body inputs: `text`, base64 `data`, or `inputs` of `{ text | data | json }`. */
export interface JsonInputs {
  text?: string | string[];
  data?: string | string[];
  inputs?: Array<
    { text: string; name?: string } | { data: string; name?: string } | { json: unknown; name?: string }
  >;
}

const base64Pattern = /^[A-Za-z0-9+/_-]*={0,2}$/;

function decodeBase64(data: string, index: number): Buffer {
  const compact = data.replace(/\s+/g, '');
  if (!base64Pattern.test(compact)) {
    throw new InferqError('INFERQ_VALIDATION_FAILED', `body/data/${index} is not base64`, {
      details: { path: `body/data/${index}` },
    });
  }
  return Buffer.from(compact, compact.includes('-') || compact.includes('_') ? 'base64url' : 'base64');
}

/** Turns JSON inputs into bytes (with their names), without storing anything yet. */
export function jsonInputBytes(body: JsonInputs): Array<{ bytes: Buffer; name: string | null }> {
  const out: Array<{ bytes: Buffer; name: string | null }> = [];
  const list = (v: string | string[] | undefined) => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
  for (const text of list(body.text)) out.push({ bytes: Buffer.from(text, 'utf8'), name: null });
  list(body.data).forEach((data, i) => {
    out.push({ bytes: decodeBase64(data, i), name: null });
  });
  (body.inputs ?? []).forEach((input, i) => {
    const name = safeFileName(input.name);
    if ('text' in input) out.push({ bytes: Buffer.from(input.text, 'utf8'), name });
    else if ('data' in input) out.push({ bytes: decodeBase64(input.data, i), name });
    else out.push({ bytes: Buffer.from(canonicalJson(input.json), 'utf8'), name });
  });
  return out;
}

/**
 * Stores one input for a submission (noted in `stored`, so that a refusal takes it back) and
 * checks it against the targets.
 */
export async function storeInput(
  ctx: ApiContext,
  stored: SubmissionBlobs,
  source: Readable | Uint8Array,
  name: string | null,
  entries: readonly CatalogEntry[],
): Promise<StoredInput> {
  const checked = inputEntries(ctx.catalog, entries);
  const blob = await stored.put(source, inputByteLimit(checked, ctx.config.blobs.maxBytes));
  await checkInput(ctx.blobs, blob, checked);
  return { blob, name };
}

/** Form fields of a multipart submission, in the order they must come: before the files. */
export interface MultipartSubmission {
  fields: SubmissionFields;
  files: AsyncIterable<{ file: Readable; name: string | null }>;
}

function fieldValue(part: MultipartValue): string {
  return typeof part.value === 'string' ? part.value : String(part.value);
}

/**
 * Reads a multipart submission part by part. Fields (`target`, `targets`, `params`, `priority`,
 * `callbackUrl`) must precede the files: the targets decide each file's byte limit, and each
 * file is streamed straight into the blob store, so it is never held in memory.
 *
 * `onFields` is called once, at the first file (or the end): it plans the submission and returns
 * the entries the files are checked against.
 */
export async function readMultipart(
  ctx: ApiContext,
  blobs: SubmissionBlobs,
  request: FastifyRequest,
  fixedTargets: readonly string[] | undefined,
  onFields: (fields: SubmissionFields) => CatalogEntry[],
): Promise<StoredInput[]> {
  const fields: {
    targets: string[];
    params?: Record<string, unknown>;
    priority?: number;
    callbackUrl?: string;
  } = {
    targets: [...(fixedTargets ?? [])],
  };
  let entries: CatalogEntry[] | undefined;
  const stored: StoredInput[] = [];
  const maxFiles = ctx.config.api.maxTasksPerRequest;
  try {
    for await (const part of request.parts()) {
      if (part.type === 'field') {
        if (entries !== undefined) {
          throw new InferqError(
            'INFERQ_VALIDATION_FAILED',
            `field "${part.fieldname}" must come before the files`,
            {
              details: { path: `body/${part.fieldname}` },
            },
          );
        }
        setField(fields, part.fieldname, fieldValue(part), fixedTargets !== undefined);
        continue;
      }
      if (entries === undefined && fields.targets.length === 0) {
        // The usual cause: `curl -F file=@… -F target=…`, the file first.
        part.file.resume();
        throw new InferqError(
          'INFERQ_VALIDATION_FAILED',
          `body/target must come before the files: a multipart body names its model or pipeline (target or targets) in a field ahead of the first file`,
          { details: { path: 'body/target' } },
        );
      }
      entries ??= onFields(fields);
      if (stored.length + 1 > Math.floor(maxFiles / entries.length)) {
        part.file.resume();
        throw new InferqError('INFERQ_TOO_MANY_INPUTS', `one request may create at most ${maxFiles} tasks`, {
          details: { limit: maxFiles, targets: entries.length },
        });
      }
      stored.push(
        await storeInput(ctx, blobs, (part as MultipartFile).file, safeFileName(part.filename), entries),
      );
    }
  } catch (err) {
    throw multipartError(err);
  }
  if (entries === undefined) onFields(fields);
  return stored;
}

const knownFields = ['target', 'targets', 'params', 'priority', 'callbackUrl'];

function setField(
  fields: { targets: string[]; params?: Record<string, unknown>; priority?: number; callbackUrl?: string },
  name: string,
  value: string,
  targetsFixed: boolean,
): void {
  // A blank field is one left empty in a form (an HTML form, the Swagger UI at /docs): not given.
  if (value.trim() === '' && knownFields.includes(name)) return;
  switch (name) {
    case 'target':
    case 'targets':
      if (targetsFixed) break;
      fields.targets.push(
        ...value
          .split(',')
          .map((t) => t.trim())
          .filter((t) => t !== ''),
      );
      return;
    case 'params': {
      let parsed: unknown;
      try {
        parsed = JSON.parse(value);
      } catch {
        parsed = undefined;
      }
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
        throw new InferqError('INFERQ_VALIDATION_FAILED', 'body/params must be a JSON object', {
          details: { path: 'body/params' },
        });
      }
      fields.params = parsed as Record<string, unknown>;
      return;
    }
    case 'priority': {
      const priority = Number(value);
      if (!Number.isInteger(priority) || priority < -1000 || priority > 1000) {
        throw new InferqError('INFERQ_VALIDATION_FAILED', 'body/priority must be an integer in -1000..1000', {
          details: { path: 'body/priority' },
        });
      }
      fields.priority = priority;
      return;
    }
    case 'callbackUrl':
      fields.callbackUrl = value;
      return;
  }
  throw new InferqError('INFERQ_VALIDATION_FAILED', `body/${name} is not a known field`, {
    details: { path: `body/${name}`, allowed: knownFields },
  });
}

/**
 * What a failure while reading a multipart body becomes: an InferqError or a Fastify error (a
 * limit, mapped by the error handler) as it is, anything else (a broken stream) a 400
 * INFERQ_BODY_MALFORMED.
 */
export function multipartError(err: unknown): Error {
  if (isInferqError(err)) return err;
  const code = (err as { code?: string }).code;
  if (typeof code === 'string' && code.startsWith('FST_')) return err as Error;
  return new InferqError(
    'INFERQ_BODY_MALFORMED',
    `the multipart body is malformed: ${(err as Error).message}`,
    {
      cause: err,
    },
  );
}
