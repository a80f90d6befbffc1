// Worker entry used only when inferq runs from its TypeScript sources (vitest, tsx): loads
// onnx-thread.ts through tsx. A `.ts` entry with `execArgv: ['--import', 'tsx']` fails on
// Node 20 (the entry is resolved before the worker's loader hooks exist), and builds from
// `dist/` never come here: they start onnx-thread.js directly.
import { tsImport } from 'tsx/esm/api';

await tsImport('./onnx-thread.ts', import.meta.url);
