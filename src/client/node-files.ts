import { openAsBlob } from 'node:fs';
import path from 'node:path';

/**
 * A file on disk as a submission input (Node only): streamed from disk by the Blob, never
 * read whole into memory; its base name is sent as the input name.
 */
export async function fileInput(file: string): Promise<{ data: Blob; name: string }> {
  return { data: await openAsBlob(file), name: path.basename(file) };
}
