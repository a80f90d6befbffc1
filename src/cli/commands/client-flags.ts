import { type Command, InvalidArgumentError } from 'commander';
import { InferqClient } from '../../client/index.js';
import { parseDuration } from '../../core/duration.js';
import { InferqError } from '../../errors/index.js';

/** Flags every client command takes. */
export interface ClientFlags {
  url?: string;
  key?: string;
  json?: boolean;
}

export const defaultUrl = 'http://127.0.0.1:8080';

/** Adds `--url`, `--key` and `--json` (the server address and key also come from INFERQ_URL / INFERQ_API_KEY). */
export function withClientFlags(command: Command): Command {
  return command
    .option('--url <url>', `server address (env INFERQ_URL, default ${defaultUrl})`)
    .option('--key <key>', 'API key iq_… or token (env INFERQ_API_KEY)')
    .option('--json', 'machine-readable JSON on stdout');
}

/**
 * The SDK client for the flags. The CLI is the one place besides config that reads the
 * environment, and only for these two client settings.
 */
export function clientFrom(flags: ClientFlags): InferqClient {
  const url = flags.url ?? process.env.INFERQ_URL ?? defaultUrl;
  const key = flags.key ?? process.env.INFERQ_API_KEY;
  if (key === undefined || key === '') {
    throw new InferqError(
      'INFERQ_AUTH_REQUIRED',
      'no API key: pass --key iq_… or set INFERQ_API_KEY (inferq keys create --tenant NAME makes one)',
    );
  }
  return new InferqClient({ url, apiKey: key });
}

export function positiveInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

/**
 * A point in time for a listing's range: a duration ago (`30m`, `2h`, `7d`) as milliseconds since
 * the epoch, or an ISO 8601 date or date-time (`2026-11-24`, `2026-11-24T08:00:00Z`) as a UTC date-time.
 */
export function pointInTime(value: string): number | string {
  const trimmed = value.trim();
  if (/[a-z]$/i.test(trimmed) && !trimmed.includes('-')) {
    const ago = parseDuration(trimmed);
    if (ago !== undefined) return Date.now() - ago;
  } else if (/^\d{4}-\d{2}-\d{2}/.test(trimmed) && !Number.isNaN(Date.parse(trimmed))) {
    // A bare date is midnight UTC; the API takes date-times, so send the full form.
    return new Date(Date.parse(trimmed)).toISOString();
  }
  throw new InvalidArgumentError(
    'expected a duration ago (30m, 2h, 7d) or an ISO 8601 date-time (2026-11-24T08:00:00Z)',
  );
}

/**
 * A repeatable option's parser: each `--opt a` (or `--opt a,b`) adds to the list. Unlike a
 * variadic option (`<name...>`), it takes one value, so `--model ocr page.png` leaves `page.png`
 * to the command's arguments instead of reading it as a second model.
 */
export function collectList(value: string, previous: readonly string[] = []): string[] {
  const items = value.split(',').map((item) => item.trim());
  if (items.some((item) => item === '')) throw new InvalidArgumentError('expected names separated by commas');
  return [...previous, ...items];
}

export function jsonObject(value: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw new InvalidArgumentError('expected a JSON object, e.g. \'{"thresh":0.4}\'');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new InvalidArgumentError('expected a JSON object');
  }
  return parsed as Record<string, unknown>;
}
