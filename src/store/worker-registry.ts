/** What a worker process reports about itself on every heartbeat. */
export interface WorkerHeartbeat {
  id: string;
  host: string;
  pid: number;
  /** `name@version` of every model it serves. */
  models: string[];
  /** Jobs it holds right now. */
  inFlight: number;
  /** inferq version it runs. */
  version: string;
  state: 'running' | 'draining';
  startedAt: number;
  /** The onnxruntime execution provider it runs each onnx model on (`name@version` → `cpu`, `cuda:0`…). */
  providers?: Record<string, string>;
  /** Where its fast path listens for API hosts over ZeroMQ (`inferq worker --realtime`). */
  realtime?: string;
  /** Models it could not load, with the reason (shown as unavailable). */
  unavailable?: Record<string, string>;
}

export interface WorkerInfo extends WorkerHeartbeat {
  lastSeenAt: number;
}

/**
 * Who is serving what. Workers upsert a heartbeat every few seconds; readers judge staleness
 * from `lastSeenAt` themselves (a worker that died simply stops updating its row).
 */
export interface WorkerRegistry {
  heartbeat(beat: WorkerHeartbeat, at?: number): Promise<void>;
  list(): Promise<WorkerInfo[]>;
  /** A worker leaving cleanly removes itself. */
  remove(id: string): Promise<void>;
  /** Forgets workers not seen since `before` (housekeeping). */
  prune(before: number): Promise<number>;
  close(): Promise<void>;
}
