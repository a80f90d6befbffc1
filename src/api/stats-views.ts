import type { Static } from '@sinclair/typebox';
import { InferqError } from '../errors/index.js';
import type { ApiContext } from './api-context.js';
import type {
  HistoryBucketView,
  LatencyBreakdownResponse,
  StatsHistoryResponse,
  StatsOverviewResponse,
  StatsResponse,
} from './schemas/responses.js';

/** Whose tasks a stats view covers: one tenant, or every tenant (`all`, admin). */
export interface StatsScope {
  /** Undefined for every tenant. */
  owner: string | undefined;
  /** The tenant, or `all`. */
  label: string;
}

/** The share of finished tasks answered from the result cache; null when none finished. */
const hitRate = (c: { finished: number; cacheHits: number }) =>
  c.finished === 0 ? null : c.cacheHits / c.finished;

/** More buckets than this in one history is refused: the chart cannot show them anyway. */
export const maxHistoryBuckets = 1_000;

/**
 * `GET /v1/stats`: all-time counts by target and state, the window's latencies, queue depths.
 * The counts read every task of the scope (about a second at a million tasks on SQLite, in id
 * ranges that let other requests through meanwhile); the dashboard uses {@link overviewView}
 * instead.
 */
export async function statsView(
  ctx: ApiContext,
  scope: StatsScope,
  windowSeconds: number,
): Promise<Static<typeof StatsResponse>> {
  const stats = await ctx.stats.taskStats({
    ...(scope.owner === undefined ? {} : { owner: scope.owner }),
    since: ctx.clock() - windowSeconds * 1_000,
  });
  return {
    scope: scope.label,
    windowSeconds,
    byTarget: stats.byTarget,
    recent: stats.recent.map((r) => ({ ...r, hitRate: hitRate(r), perSecond: r.finished / windowSeconds })),
    queues: await queueDepths(ctx),
  };
}

async function queueDepths(ctx: ApiContext): Promise<Static<typeof StatsResponse>['queues']> {
  const queues: Static<typeof StatsResponse>['queues'] = {};
  for (const entry of ctx.catalog.list()) {
    const ref = `${entry.name}@${entry.version}`;
    queues[ref] = await ctx.broker.depth(ref).catch(() => null);
  }
  return queues;
}

/** `GET /v1/stats/overview` and the live stream: backlog now, the window's outcomes, queues. */
export async function overviewView(
  ctx: ApiContext,
  scope: StatsScope,
  windowSeconds: number,
): Promise<Static<typeof StatsOverviewResponse>> {
  const activity = await ctx.stats.activityStats({
    ...(scope.owner === undefined ? {} : { owner: scope.owner }),
    since: ctx.clock() - windowSeconds * 1_000,
  });
  const rates = (c: { finished: number; failed: number; cacheHits: number }) => ({
    perSecond: c.finished / windowSeconds,
    errorRate: c.finished === 0 ? null : c.failed / c.finished,
    hitRate: hitRate(c),
  });
  const totals = {
    queued: 0,
    running: 0,
    finished: 0,
    succeeded: 0,
    failed: 0,
    cancelled: 0,
    cacheHits: 0,
  };
  for (const a of activity) {
    for (const key of Object.keys(totals) as Array<keyof typeof totals>) totals[key] += a[key];
  }
  return {
    scope: scope.label,
    windowSeconds,
    totals: { ...totals, ...rates(totals) },
    targets: activity.map((a) => ({ ...a, ...rates(a) })),
    queues: await queueDepths(ctx),
  };
}

/** The default bucket width for a window: about 60 buckets, whole seconds. */
export function defaultBucketSeconds(windowSeconds: number): number {
  return Math.max(1, Math.ceil(windowSeconds / 60));
}

/**
 * `GET /v1/stats/history`: the window cut into buckets aligned to multiples of the bucket width
 * since the epoch (so two calls, or a call and the live event stream, agree on every bucket's
 * start), the last one holding now. Every bucket is listed, empty ones with zeros.
 */
export async function historyView(
  ctx: ApiContext,
  scope: StatsScope,
  windowSeconds: number,
  bucketSeconds: number,
): Promise<Static<typeof StatsHistoryResponse>> {
  const count = Math.ceil(windowSeconds / bucketSeconds);
  if (count > maxHistoryBuckets) {
    throw new InferqError(
      'INFERQ_VALIDATION_FAILED',
      `querystring/bucketSeconds is too small: ${windowSeconds} s in buckets of ${bucketSeconds} s make ${count} buckets, more than ${maxHistoryBuckets}`,
      { details: { path: 'querystring/bucketSeconds', location: 'querystring', buckets: count } },
    );
  }
  const now = ctx.clock();
  const bucketMs = bucketSeconds * 1_000;
  const last = Math.floor(now / bucketMs) * bucketMs;
  const from = last - (count - 1) * bucketMs;
  const to = last + bucketMs;
  const rows = await ctx.stats.taskHistory({
    ...(scope.owner === undefined ? {} : { owner: scope.owner }),
    from,
    to,
    bucketMs,
  });
  const byStart = new Map(rows.map((row) => [row.start, row]));
  const buckets: Static<typeof HistoryBucketView>[] = [];
  for (let start = from; start < to; start += bucketMs) {
    const row = byStart.get(start);
    const seconds = Math.max(1, Math.min(bucketMs, now - start) / 1_000);
    const finished = row?.finished ?? 0;
    const cacheHits = row?.cacheHits ?? 0;
    buckets.push({
      start,
      seconds,
      finished,
      succeeded: row?.succeeded ?? 0,
      failed: row?.failed ?? 0,
      cancelled: row?.cancelled ?? 0,
      perSecond: finished / seconds,
      errorRate: finished === 0 ? null : (row?.failed ?? 0) / finished,
      cacheHits,
      hitRate: hitRate({ finished, cacheHits }),
      p50Ms: row?.p50Ms ?? null,
      p95Ms: row?.p95Ms ?? null,
      p99Ms: row?.p99Ms ?? null,
      batchSize: row?.batchSize ?? null,
    });
  }
  return { scope: scope.label, windowSeconds, bucketSeconds, from, to, buckets };
}

/** `GET /v1/stats/models`: queue wait, batch wait and compute per model over the window. */
export async function breakdownView(
  ctx: ApiContext,
  scope: StatsScope,
  windowSeconds: number,
): Promise<Static<typeof LatencyBreakdownResponse>> {
  const items = await ctx.stats.latencyBreakdown({
    ...(scope.owner === undefined ? {} : { owner: scope.owner }),
    since: ctx.clock() - windowSeconds * 1_000,
  });
  return { scope: scope.label, windowSeconds, items };
}
