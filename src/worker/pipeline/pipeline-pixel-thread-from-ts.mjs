// Entry of the pipeline pixel thread when inferq runs from its TypeScript sources: loads
// pipeline-pixel-thread.ts through tsx. See src/runtime/thread-entry.ts for why.
import { tsImport } from 'tsx/esm/api';

await tsImport('./pipeline-pixel-thread.ts', import.meta.url);
