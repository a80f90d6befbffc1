import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { SqliteWorkerRegistry } from '../../src/store/sqlite/sqlite-worker-registry.js';
import { runWorkerRegistryContract } from '../contracts/worker-registry.contract.js';

runWorkerRegistryContract('SqliteWorkerRegistry', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'inferq-worker-registry-'));
  const file = path.join(dir, 'inferq.db');
  const registry = SqliteWorkerRegistry.open(file);
  return {
    registry,
    open: async () => SqliteWorkerRegistry.open(file),
    async cleanup() {
      await registry.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});
