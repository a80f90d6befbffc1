import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Value, ValueErrorType } from '@sinclair/typebox/value';
import { parse as parseYaml } from 'yaml';
import { parseDuration } from '../core/duration.js';
import { InferqError } from '../errors/index.js';
import { type Config, ConfigSchema, type RawConfig } from './schema.js';

/**
 * Environment variables inferq reads, each mapped to a config key. Any other `INFERQ_*`
 * variable is refused by name: a typo in a deployment manifest must fail loudly.
 */
export const envKeys: Readonly<Record<string, string>> = {
  INFERQ_CONFIG: '(path of inferq.yaml)',
  INFERQ_DATA_DIR: 'dataDir',
  INFERQ_HOST: 'server.host',
  INFERQ_PORT: 'server.port',
  INFERQ_STORE_URL: 'store.url',
  INFERQ_BROKER_URL: 'broker.url',
  INFERQ_BLOBS_URL: 'blobs.url',
  INFERQ_MODELS_DIR: 'models.dir',
  INFERQ_WORKERS: 'workers.count',
  INFERQ_REALTIME_BIND: 'workers.realtimeBind',
  INFERQ_REALTIME_ADVERTISE: 'workers.realtimeAdvertise',
  INFERQ_LOG_LEVEL: 'log.level',
  INFERQ_RETENTION_TTL: 'retention.ttl',
  INFERQ_ALLOW_PRIVATE_CALLBACKS: 'api.allowPrivateCallbacks',
  // Read by the client commands of the CLI (models, submit, tasks, stats), not by the server.
  INFERQ_URL: '(client: server URL)',
  INFERQ_API_KEY: '(client: API key)',
};

const integerKeys = new Set(['server.port', 'workers.count']);
const booleanKeys = new Set(['api.allowPrivateCallbacks']);

/** Environment variables are strings: numbers and booleans are converted where the key wants one. */
function envValue(key: string, value: string): unknown {
  if (integerKeys.has(key) && /^\d+$/.test(value)) return Number(value);
  if (booleanKeys.has(key) && /^(true|false)$/i.test(value)) return value.toLowerCase() === 'true';
  return value;
}

export interface LoadConfigOptions {
  /** Path of the YAML file; when absent, `INFERQ_CONFIG` or `./inferq.yaml` if it exists. */
  file?: string;
  /** The process environment (passed in so tests never touch the real one). */
  env?: NodeJS.ProcessEnv;
  /** CLI flags as dotted keys (`{ 'store.url': 'postgres://…' }`): highest precedence. */
  overrides?: Record<string, unknown>;
  cwd?: string;
}

/** Reads file + environment + flags (later wins), validates once, returns a frozen Config. */
export function loadConfig(options: LoadConfigOptions = {}): Config {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const raw: Record<string, unknown> = {};

  const file = options.file ?? env.INFERQ_CONFIG ?? defaultFile(cwd);
  if (file !== undefined) mergeDeep(raw, readYaml(path.resolve(cwd, file)), file);

  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('INFERQ_') || value === undefined) continue;
    const key = envKeys[name];
    if (key === undefined) {
      throw new InferqError(
        'INFERQ_CONFIG_UNKNOWN_KEY',
        `unknown environment variable ${name}; inferq reads: ${Object.keys(envKeys).join(', ')}`,
        { details: { key: name, allowed: Object.keys(envKeys) } },
      );
    }
    if (key.startsWith('(')) continue;
    setPath(raw, key, envValue(key, value));
  }
  for (const [key, value] of Object.entries(options.overrides ?? {})) {
    if (value !== undefined) setPath(raw, key, value);
  }
  return finalize(validate(raw), cwd);
}

function defaultFile(cwd: string): string | undefined {
  const candidate = path.join(cwd, 'inferq.yaml');
  try {
    readFileSync(candidate);
    return candidate;
  } catch {
    return undefined;
  }
}

function readYaml(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new InferqError(
      'INFERQ_CONFIG_FILE_UNREADABLE',
      `cannot read config file ${file}: ${(cause as Error).message}`,
      {
        cause,
        details: { file },
      },
    );
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (cause) {
    throw new InferqError(
      'INFERQ_CONFIG_FILE_UNREADABLE',
      `config file ${file} is not valid YAML: ${(cause as Error).message}`,
      {
        cause,
        details: { file },
      },
    );
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new InferqError('INFERQ_CONFIG_INVALID', `config file ${file} must hold a mapping of keys`, {
      details: { file },
    });
  }
  return parsed as Record<string, unknown>;
}

function validate(raw: Record<string, unknown>): RawConfig {
  const candidate = Value.Default(ConfigSchema, structuredClone(raw));
  const first = Value.Errors(ConfigSchema, candidate).First();
  if (first === undefined) return candidate as RawConfig;

  const key = first.path.replace(/^\//, '').replaceAll('/', '.') || '(root)';
  if (first.type === ValueErrorType.ObjectAdditionalProperties) {
    // `first.path` is the unknown key itself; `first.schema` is the object that refused it.
    const allowed = Object.keys((first.schema as { properties?: Record<string, unknown> }).properties ?? {});
    throw new InferqError(
      'INFERQ_CONFIG_UNKNOWN_KEY',
      `unknown config key "${key}"; allowed here: ${allowed.join(', ')}`,
      {
        details: { key, allowed },
      },
    );
  }
  const allowedValues = literalValues(first.schema);
  const hint = allowedValues ? `; allowed values: ${allowedValues.join(', ')}` : '';
  throw new InferqError(
    'INFERQ_CONFIG_INVALID',
    `config key "${key}" is invalid: ${first.message} (got ${JSON.stringify(first.value)})${hint}`,
    { details: { key, value: first.value, ...(allowedValues ? { allowed: allowedValues } : {}) } },
  );
}

function literalValues(schema: unknown): unknown[] | undefined {
  const anyOf = (schema as { anyOf?: Array<{ const?: unknown }> }).anyOf;
  if (!anyOf?.every((s) => 'const' in s)) return undefined;
  return anyOf.map((s) => s.const);
}

function duration(value: unknown, fallback: number): number {
  return value === undefined ? fallback : parseDuration(value)!;
}

function finalize(raw: RawConfig, cwd: string): Config {
  const dataDir = path.resolve(cwd, raw.dataDir);
  const storeUrl = raw.store?.url ?? `sqlite:${path.join(dataDir, 'inferq.db')}`;
  const config: Config = {
    dataDir,
    server: {
      host: raw.server?.host ?? '127.0.0.1',
      port: raw.server?.port ?? 8080,
      // JSON bodies are parsed whole, at several times their size: large inputs belong in
      // multipart, which streams (README, Configuration).
      bodyLimitBytes: raw.server?.bodyLimitBytes ?? 4 * 1024 * 1024,
      maxBufferedBytes: raw.server?.maxBufferedBytes ?? 16 * 1024 * 1024,
      maxBufferedBytesPerTenant: raw.server?.maxBufferedBytesPerTenant ?? 8 * 1024 * 1024,
    },
    api: {
      allowPrivateCallbacks: raw.api?.allowPrivateCallbacks ?? false,
      tokenTtlMs: duration(raw.api?.tokenTtl, 3_600_000),
      rateLimitPerMinute: raw.api?.rateLimitPerMinute ?? 6_000,
      maxQueuedTasks: raw.api?.maxQueuedTasks ?? 100_000,
      maxStoredBytes: raw.api?.maxStoredBytes ?? null,
      maxTasksPerRequest: raw.api?.maxTasksPerRequest ?? 1_000,
      predictTimeoutMs: duration(raw.api?.predictTimeout, 30_000),
      maxWaitMs: duration(raw.api?.maxWait, 30_000),
      webhookMaxAttempts: raw.api?.webhookMaxAttempts ?? 8,
    },
    store: { url: storeUrl },
    broker: {
      // Embedded: the queue lives in the task database (one file; tasks created with their jobs
      // in one transaction). With a PostgreSQL store and no broker named, a queue file of its own.
      url:
        raw.broker?.url ??
        (storeUrl.startsWith('sqlite:') ? storeUrl : `sqlite:${path.join(dataDir, 'queue.db')}`),
      leaseMs: duration(raw.broker?.leaseMs, 30_000),
      reapIntervalMs: duration(raw.broker?.reapIntervalMs, 1_000),
    },
    blobs: {
      url: raw.blobs?.url ?? `file:${path.join(dataDir, 'blobs')}`,
      maxBytes: raw.blobs?.maxBytes ?? 32 * 1024 * 1024,
      inlineMaxBytes: raw.blobs?.inlineMaxBytes ?? 64 * 1024,
    },
    retention: {
      ttlMs: duration(raw.retention?.ttl, 7 * 86_400_000),
      intervalMs: duration(raw.retention?.intervalMs, 3_600_000),
      blobGraceMs: duration(raw.retention?.blobGraceMs, 3_600_000),
    },
    models: { dir: path.resolve(cwd, raw.models?.dir ?? 'models') },
    workers: {
      count: raw.workers?.count ?? 1,
      threads: raw.workers?.threads,
      fastQueueLimit: raw.workers?.fastQueueLimit ?? 256,
      realtimeBind: raw.workers?.realtimeBind,
      realtimeAdvertise: raw.workers?.realtimeAdvertise,
    },
    log: { level: raw.log?.level ?? 'info' },
  };
  return deepFreeze(config);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function setPath(target: Record<string, unknown>, dotted: string, value: unknown): void {
  const parts = dotted.split('.');
  let node = target;
  for (const part of parts.slice(0, -1)) {
    if (!isPlainObject(node[part])) node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts.at(-1)!] = value;
}

function mergeDeep(target: Record<string, unknown>, source: Record<string, unknown>, origin: string): void {
  for (const [key, value] of Object.entries(source)) {
    if (isPlainObject(value) && isPlainObject(target[key])) {
      mergeDeep(target[key] as Record<string, unknown>, value, origin);
    } else {
      target[key] = value;
    }
  }
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const member of Object.values(value)) deepFreeze(member);
    Object.freeze(value);
  }
  return value;
}
