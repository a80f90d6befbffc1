/**
 * Fills a SQLite task store with `count` finished-looking tasks, fast: the store creates its
 * schema, then one transaction of prepared INSERTs writes the rows (tasks, their timelines with
 * the worker's run timings, small results) in id order, as years of real use would leave them.
 * Used by bench/dashboard.ts.
 */
import { createHash, randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { paramsHash } from '../../src/core/hash.js';
import { SqliteTaskStore } from '../../src/store/sqlite/sqlite-task-store.js';

export interface SeedOptions {
  /** Tasks to write. */
  count: number;
  /** Creation times spread evenly over this many ms before `now`. */
  spanMs: number;
  now: number;
  /** Tasks (owner `default`, succeeded) whose result is about `bigResultBytes` of JSON. */
  bigResults: number;
  bigResultBytes: number;
}

export interface SeedReport {
  ms: number;
  /** Ids, newest first, at a few depths of the `default` tenant's listing. */
  idAtDepth: (fraction: number) => string;
  bigIds: string[];
  smallId: string;
  failedTargets: string[];
}

const targets = [
  { kind: 'model', name: 'ocr-det', version: '4.0.0', share: 0.3, computeMs: 60 },
  { kind: 'model', name: 'ocr-rec', version: '4.0.0', share: 0.3, computeMs: 25 },
  { kind: 'model', name: 'ocr-cls', version: '2.0.0', share: 0.15, computeMs: 8 },
  { kind: 'model', name: 'echo', version: '1.0.0', share: 0.15, computeMs: 1 },
  { kind: 'pipeline', name: 'ocr', version: '1.0.0', share: 0.1, computeMs: 0 },
] as const;

/** A UUIDv7 for time `ms`, unique by `n` (ids sort by creation time, as the store's do). */
function uuidV7(ms: number, n: number): string {
  const time = ms.toString(16).padStart(12, '0');
  const rand = (n * 2_654_435_761) >>> 0;
  const a = (rand & 0xfff).toString(16).padStart(3, '0');
  const b = (0x8000 | ((n >>> 12) & 0x3fff)).toString(16);
  const c = n.toString(16).padStart(12, '0').slice(-12);
  return `${time.slice(0, 8)}-${time.slice(8)}-7${a}-${b}-${c}`;
}

/** A deterministic pseudo-random number in [0, 1) for task `n` and stream `k`. */
function rnd(n: number, k: number): number {
  let x = (n * 374_761_393 + k * 668_265_263) >>> 0;
  x = Math.imul(x ^ (x >>> 13), 1_274_126_177) >>> 0;
  return ((x ^ (x >>> 16)) >>> 0) / 4_294_967_296;
}

/** A result shaped like the OCR pipeline's, about `bytes` long as JSON. */
export function bigResult(bytes: number): unknown {
  const lines: unknown[] = [];
  const line = (i: number) => ({
    text: `line ${i} ${randomBytes(24).toString('base64')}`,
    confidence: 0.97,
    box: [
      [10, 20 * i],
      [600, 20 * i],
      [600, 20 * i + 18],
      [10, 20 * i + 18],
    ],
  });
  let size = 0;
  for (let i = 0; size < bytes; i++) {
    const next = line(i);
    size += JSON.stringify(next).length + 1;
    lines.push(next);
  }
  return { text: 'big result', lines };
}

export async function seedTasks(file: string, options: SeedOptions): Promise<SeedReport> {
  const started = performance.now();
  // The store's own schema and migrations.
  const store = SqliteTaskStore.open(file);
  await store.close();
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = OFF');
  db.pragma('cache_size = -262144');
  const insertTask = db.prepare(`INSERT INTO tasks (id, request_id, owner, target_kind, target_name,
    target_version, input_sha256, input_size, input_media_type, params, params_hash, priority, state,
    attempts, max_attempts, error, cached, callback_url, created_at, updated_at, finished_at, worker_id,
    lease_token) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'image/png', '{}', ?, 0, ?, ?, 3, ?, 0, NULL, ?, ?, ?, ?, ?)`);
  const insertTimeline = db.prepare(
    'INSERT INTO task_timeline (task_id, stage, at, attempt, data) VALUES (?, ?, ?, ?, ?)',
  );
  const insertResult = db.prepare('INSERT INTO task_results (task_id, result) VALUES (?, ?)');
  const hashOfParams = paramsHash({});
  const defaultIds: string[] = [];
  const bigIds: string[] = [];
  const failedTargets = new Set<string>();
  const step = options.spanMs / options.count;
  const first = options.now - options.spanMs;
  const bigEvery = options.bigResults === 0 ? 0 : Math.floor(options.count / (options.bigResults + 1));
  const big = options.bigResults === 0 ? '' : JSON.stringify(bigResult(options.bigResultBytes));

  db.transaction(() => {
    for (let n = 0; n < options.count; n++) {
      const created = Math.floor(first + n * step);
      const id = uuidV7(created, n);
      const pick = rnd(n, 1);
      let acc = 0;
      const target =
        targets.find((t) => {
          acc += t.share;
          return acc > pick;
        }) ?? targets[0];
      const owner = rnd(n, 2) < 0.8 ? 'default' : `tenant-${Math.floor(rnd(n, 3) * 4) + 1}`;
      const recent = n >= options.count - 200;
      const isBig = bigEvery > 0 && n > 0 && n % bigEvery === 0 && bigIds.length < options.bigResults;
      const roll = rnd(n, 4);
      const state = isBig
        ? 'succeeded'
        : recent
          ? roll < 0.8
            ? 'queued'
            : 'running'
          : roll < 0.94
            ? 'succeeded'
            : roll < 0.99
              ? 'failed'
              : 'cancelled';
      const finalOwner = isBig ? 'default' : owner;
      if (finalOwner === 'default') defaultIds.push(id);
      if (isBig) bigIds.push(id);
      const queueWaitMs = Math.floor(rnd(n, 5) * 200);
      const batchWaitMs = Math.floor(rnd(n, 6) * 20);
      const computeMs = Math.max(1, Math.floor(target.computeMs * (0.5 + rnd(n, 7))));
      const batchSize = target.kind === 'pipeline' ? 0 : 1 + Math.floor(rnd(n, 8) * 8);
      const running = created + queueWaitMs;
      const finished =
        target.kind === 'pipeline'
          ? created + 150 + Math.floor(rnd(n, 9) * 600)
          : running + batchWaitMs + computeMs + 2;
      const final = state === 'succeeded' || state === 'failed' || state === 'cancelled';
      const error =
        state === 'failed' ? JSON.stringify({ code: 'INFERQ_WORK_FAILED', message: 'seeded failure' }) : null;
      if (state === 'failed') failedTargets.add(`${target.name}@${target.version}`);
      const sha = createHash('sha256').update(`input ${n}`).digest('hex');
      insertTask.run(
        id,
        id,
        finalOwner,
        target.kind,
        target.name,
        target.version,
        sha,
        20_000 + (n % 50_000),
        hashOfParams,
        state,
        state === 'queued' ? 0 : 1,
        error,
        created,
        final ? finished : created,
        final ? finished : null,
        state === 'running' ? 'seed-worker' : null,
        state === 'running' ? `lease-${n}` : null,
      );
      insertTimeline.run(id, 'created', created, null, null);
      insertTimeline.run(id, 'queued', created, null, null);
      if (state === 'queued') continue;
      insertTimeline.run(id, 'running', running, 1, '{"workerId":"seed-worker"}');
      if (state === 'succeeded') {
        const timing =
          target.kind === 'pipeline' ? { steps: {} } : { queueWaitMs, batchWaitMs, computeMs, batchSize };
        insertTimeline.run(id, 'succeeded', finished, 1, JSON.stringify(timing));
        insertResult.run(
          id,
          isBig ? big : `{"sha256":"${sha}","bytes":${20_000 + (n % 50_000)},"params":{}}`,
        );
      } else if (state === 'failed') {
        insertTimeline.run(id, 'failed', finished, 1, `{"error":${error}}`);
      } else if (state === 'cancelled') {
        insertTimeline.run(id, 'cancelled', finished, 1, null);
      }
    }
  }).immediate();
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  defaultIds.reverse();
  return {
    ms: performance.now() - started,
    idAtDepth: (fraction) =>
      defaultIds[Math.min(defaultIds.length - 1, Math.floor(fraction * defaultIds.length))]!,
    bigIds,
    smallId: defaultIds[1_000] ?? defaultIds[0]!,
    failedTargets: [...failedTargets].sort(),
  };
}
