// Loads model-thread.ts through tsx in a worker thread (see src/runtime/thread-entry.ts for why).
import { tsImport } from 'tsx/esm/api';

await tsImport('./model-thread.ts', import.meta.url);
