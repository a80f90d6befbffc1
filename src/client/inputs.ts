/**
 * One input of a submission: text, bytes, a Blob/File (its name is sent along), or bytes with
 * a name. The server sniffs the media type from the bytes; the name is metadata only.
 */
export type Input =
  | string
  | Uint8Array
  | Blob
  | { data: Uint8Array | Blob; name?: string }
  | { text: string; name?: string };

/** Whether the inputs can go as a JSON body (all text) rather than multipart. */
export function allText(
  inputs: readonly Input[],
): inputs is ReadonlyArray<string | { text: string; name?: string }> {
  // A Blob (and a browser File) has a text() method: `'text' in` alone would take it for text.
  return inputs.every(
    (i) =>
      typeof i === 'string' ||
      (!(i instanceof Blob) &&
        !(i instanceof Uint8Array) &&
        typeof (i as { text?: unknown }).text === 'string'),
  );
}

function asBlob(data: Uint8Array | Blob): Blob {
  // A copy into a fresh ArrayBuffer: a Node Buffer may be a view into a larger shared pool.
  return data instanceof Blob ? data : new Blob([data.slice()]);
}

/** The file part of one input: its bytes and a name. */
export function filePart(input: Input, index: number): { blob: Blob; name: string } {
  if (typeof input === 'string') return { blob: new Blob([input]), name: `input-${index}.txt` };
  if (input instanceof Uint8Array) return { blob: asBlob(input), name: `input-${index}` };
  if (input instanceof Blob) {
    const name = (input as Blob & { name?: unknown }).name;
    return { blob: input, name: typeof name === 'string' && name !== '' ? name : `input-${index}` };
  }
  if ('data' in input) return { blob: asBlob(input.data), name: input.name ?? `input-${index}` };
  return { blob: new Blob([input.text]), name: input.name ?? `input-${index}.txt` };
}

/**
 * A multipart body as the API reads it: fields first (they decide each file's limits), then
 * the files. Built by a function so each retry sends a fresh body.
 */
export function multipartBody(
  targets: readonly string[],
  inputs: readonly Input[],
  fields: { params?: Record<string, unknown>; priority?: number; callbackUrl?: string },
): () => FormData {
  const parts = inputs.map(filePart);
  return () => {
    const form = new FormData();
    for (const target of targets) form.append('target', target);
    if (fields.params !== undefined) form.append('params', JSON.stringify(fields.params));
    if (fields.priority !== undefined) form.append('priority', String(fields.priority));
    if (fields.callbackUrl !== undefined) form.append('callbackUrl', fields.callbackUrl);
    for (const part of parts) form.append('file', part.blob, part.name);
    return form;
  };
}
