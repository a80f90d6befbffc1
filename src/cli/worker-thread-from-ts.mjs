// Entry of the worker-thread worker thread when inferq runs from its TypeScript sources: loads
// worker-thread.ts through tsx. See src/runtime/thread-entry.ts for why; builds start worker-thread.js.
import { tsImport } from 'tsx/esm/api';

await tsImport('./worker-thread.ts', import.meta.url);
