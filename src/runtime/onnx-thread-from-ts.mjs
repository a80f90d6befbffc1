// Entry of the onnx-thread worker thread when inferq runs from its TypeScript sources: loads
// onnx-thread.ts through tsx. See src/runtime/thread-entry.ts for why; builds start onnx-thread.js.
import { tsImport } from 'tsx/esm/api';

await tsImport('./onnx-thread.ts', import.meta.url);
