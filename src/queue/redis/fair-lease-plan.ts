import type { Redis } from 'ioredis';

/**
 * planFairLease-3: which tenants' BullMQ queues the next `n` jobs of a lease come from, and the
 * fair-share bookkeeping advanced for them, in one script (atomic: every worker on every host
 * shares one fair order).
 *
 * The rule is the SQL brokers', stated once in src/queue/fair-share-tags.ts: weighted fair
 * queuing by start tags. Per queue, tenant t keeps `last_start_t` and the queue its clock `V`;
 * the k-th ready job of t gets the tag `max(last_start_t + 1/w_t, V) + (k - 1)/w_t` (V alone
 * for a tenant never served), the `n` smallest tags are leased, and each served tenant's largest
 * tag becomes its `last_start`, the largest of all `V`. Priority orders a tenant's own jobs
 * inside its BullMQ queue (BullMQ's prioritized set), so it never takes another tenant's turn.
 * Ties go to the tenant whose name sorts first (SQLite: the older job); one turn apart at most.
 *
 * Jobs this handle holds prefetched (an ack's BullMQ fetchNext: active, locked, not yet leased
 * out) count as their tenant's ready jobs, and a slot of that tenant takes them first: the
 * buffer is a cache of the tenant's next jobs, never a turn of its own.
 *
 * The script only counts ready jobs (wait + prioritized + delayed that are due: BullMQ's
 * moveToActive promotes those); the jobs themselves are then taken by BullMQ's own fetch, one
 * per slot, on the tenant's queue. Two workers planning at the same moment may both plan a
 * tenant's last jobs; the later fetch finds nothing and that slot stays empty, with the tenant
 * charged a turn it did not get (at most one turn per concurrent leaser, only as its backlog runs
 * out). Cost: a few commands per listed tenant, plus a heap of the tenants with backlog:
 * O(T + n log T) for T tenants and a batch of n. A tenant whose queue holds no job at all (none
 * waiting, delayed, leased or dead) is unlisted by the plan that finds it so, so T counts the
 * tenants with jobs, not every tenant that ever enqueued.
 *
 * The script reads each tenant's BullMQ keys by name (from KEYS[1]), which a single Redis (or a
 * Cluster with a hash-tagged prefix, as BullMQ itself needs) allows.
 */
const planFairLeaseLua = `--[[
  KEYS[1] the queue's tenants: hash tenant -> BullMQ queue name
  KEYS[2] the queue's tags: hash 'v' -> clock, 't:<tenant>' -> last start tag
  KEYS[3] the broker's weights: hash tenant -> weight (default 1)
  ARGV[1] BullMQ key prefix with its separator ('bull:')
  ARGV[2] n, the slots to plan (0..1000)
  ARGV[3] now (ms): delayed jobs due by then count as ready
  ARGV[4] JSON [[tenant, k], ...]: jobs of the tenant this handle holds prefetched (active, not ready)
  ARGV[5] the tenant '' queue's name (kept by every queue, listed in KEYS[1] or not)
  Returns { slot 1's tenant, slot 2's tenant, ... }
]]
local rcall = redis.call
local n = tonumber(ARGV[2])
local dueScore = (tonumber(ARGV[3]) + 1) * 0x1000 - 1
local buffered = {}
for _, t in ipairs(cjson.decode(ARGV[4])) do buffered[t[1]] = t[2] end
local clock = tonumber(rcall('HGET', KEYS[2], 'v')) or 0

local function less(a, b) return a[1] < b[1] or (a[1] == b[1] and a[2] < b[2]) end
local function siftUp(h, i)
  while i > 1 do
    local p = math.floor(i / 2)
    if not less(h[i], h[p]) then return end
    h[i], h[p] = h[p], h[i]
    i = p
  end
end
local function siftDown(h, i)
  local size = #h
  while true do
    local l, r, m = 2 * i, 2 * i + 1, i
    if l <= size and less(h[l], h[m]) then m = l end
    if r <= size and less(h[r], h[m]) then m = r end
    if m == i then return end
    h[i], h[m] = h[m], h[i]
    i = m
  end
end

local heads = {}   -- tenants with ready jobs: { next tag, tenant, 1/weight, ready jobs left }
local newLast = {}
local function consider(tenant, queueName)
  local base = ARGV[1] .. queueName
  local ready = rcall('LLEN', base .. ':wait') + rcall('ZCARD', base .. ':prioritized')
    + rcall('ZCOUNT', base .. ':delayed', 0, dueScore) + (buffered[tenant] or 0)
  if ready == 0 then
    -- No job at all: unlisted, so plans skip it until it enqueues again (enqueue lists a tenant
    -- before and after adding its jobs). Its tag goes too: it would rejoin at the clock anyway.
    -- So do the keys an empty BullMQ queue leaves (the next add makes them again): a tenant
    -- that enqueued once leaves nothing behind.
    if tenant ~= '' and rcall('LLEN', base .. ':active') + rcall('ZCARD', base .. ':delayed')
        + rcall('ZCARD', base .. ':failed') == 0 then
      rcall('HDEL', KEYS[1], tenant)
      rcall('HDEL', KEYS[2], 't:' .. tenant)
      rcall('DEL', base .. ':events', base .. ':id', base .. ':marker', base .. ':meta')
    end
    return
  end
  local step = 1 / (tonumber(rcall('HGET', KEYS[3], tenant)) or 1)
  local last = tonumber(rcall('HGET', KEYS[2], 't:' .. tenant))
  local start = clock
  if last then start = math.max(last + step, clock) end
  heads[#heads + 1] = { start, tenant, step, ready }
  siftUp(heads, #heads)
end

local listed = rcall('HGETALL', KEYS[1])
local sawPlain = false
for i = 1, #listed, 2 do
  if listed[i] == '' then sawPlain = true end
  consider(listed[i], listed[i + 1])
end
if not sawPlain then consider('', ARGV[5]) end

local slots = {}
while #slots < n and #heads > 0 do
  local head = heads[1]
  slots[#slots + 1] = head[2]
  newLast[head[2]] = head[1]
  head[4] = head[4] - 1
  if head[4] == 0 then
    heads[1] = heads[#heads]
    heads[#heads] = nil
  else
    head[1] = head[1] + head[3]
  end
  if #heads > 0 then siftDown(heads, 1) end
end

for tenant, tag in pairs(newLast) do
  rcall('HSET', KEYS[2], 't:' .. tenant, string.format('%.17g', tag))
  if tag > clock then clock = tag end
end
if next(newLast) ~= nil then rcall('HSET', KEYS[2], 'v', string.format('%.17g', clock)) end
return slots
`;

export interface FairLeasePlanInput {
  keys: { tenants: string; tags: string; weights: string };
  /** BullMQ key prefix with its ':'. */
  keyPrefix: string;
  /** The tenant '' queue's BullMQ name. */
  plainQueue: string;
  n: number;
  /** Jobs this handle holds prefetched, by tenant. */
  buffered: ReadonlyMap<string, number>;
}

const commandName = 'inferqPlanFairLease';
const defined = new WeakSet<Redis>();

type PlanCommand = (
  tenants: string,
  tags: string,
  weights: string,
  keyPrefix: string,
  n: number,
  now: number,
  buffered: string,
  plainQueue: string,
) => Promise<string[]>;

/** Runs the plan (EVALSHA, loaded once per connection by ioredis); the tenant of each slot, in lease order. */
export async function planFairLease(redis: Redis, input: FairLeasePlanInput): Promise<string[]> {
  if (!defined.has(redis)) {
    redis.defineCommand(commandName, { numberOfKeys: 3, lua: planFairLeaseLua });
    defined.add(redis);
  }
  const run = (redis as unknown as Record<string, PlanCommand>)[commandName]!.bind(redis);
  return run(
    input.keys.tenants,
    input.keys.tags,
    input.keys.weights,
    input.keyPrefix,
    input.n,
    Date.now(),
    JSON.stringify([...input.buffered]),
    input.plainQueue,
  );
}
