import { type Command, InvalidArgumentError } from 'commander';
import { InferqClient } from '../../client/index.js';
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
