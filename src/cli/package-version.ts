import { readFileSync } from 'node:fs';

/** inferq's own version, from package.json (the same from src/ and dist/). */
export const packageVersion: string = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;
