// Worker entry used only when inferq runs from its TypeScript sources (vitest, tsx): loads
// worker-thread.ts through tsx (see src/runtime/onnx-thread-from-ts.mjs for why). Builds from
// `dist/` start worker-thread.js directly.
import { tsImport } from 'tsx/esm/api';

await tsImport('./worker-thread.ts', import.meta.url);
