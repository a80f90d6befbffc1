import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from '../../test/fixtures/throwaway-servers.js';

export function findOnPath(command: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {}
  }
  return undefined;
}

export interface LocalRedis {
  port: number;
  /** The redis-server process (for CPU accounting). */
  pid: number;
  stop(): void;
}

/** Starts a throw-away redis-server (no persistence) on a free loopback port, for benchmarks. */
export async function startLocalRedis(binary: string, dir: string): Promise<LocalRedis> {
  const port = await freePort();
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const child: ChildProcess = spawn(
    binary,
    ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
  const stop = () => child.kill('SIGKILL');
  process.once('exit', stop);
  const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null });
  client.on('error', () => {}); // refused connections while redis-server starts are expected
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await client.connect();
      await client.ping();
      client.disconnect();
      return { port, pid: child.pid!, stop };
    } catch (err) {
      client.disconnect();
      if (Date.now() > deadline) {
        stop();
        throw new Error(`redis-server did not start on port ${port}: ${String(err)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}
