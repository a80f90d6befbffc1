import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type ServeProcess, startServe } from '../fixtures/cli-process.js';
import { tempModelsDir } from '../fixtures/temp-models.js';

// Issue 3: "empty or oversized upload (400 / 413, limit per model, streamed so that a 5 GB upload
// never sits in memory)". An upload far larger than the server's usual footprint goes through
// real HTTP into `inferq serve`, and the server's peak resident memory must not grow by it.
const onLinux = process.platform === 'linux';
const uploadBytes = 256 * 1024 * 1024;

const models = tempModelsDir();
models.write('sink', {
  'model.yaml': 'name: sink\nversion: 1.0.0\nruntime: js\nartifact: ./model.js\ninput:\n  kind: file\n',
  'model.js': 'export function predict(inputs) { return inputs.map((i) => ({ bytes: i.bytes.length })); }\n',
});

let serve: ServeProcess;
let base: string;
let auth: Record<string, string>;

beforeAll(async () => {
  // No worker threads: the task only has to be stored (a JS model would read all of it).
  serve = await startServe(
    `models:\n  dir: ${JSON.stringify(models.dir)}\nblobs:\n  maxBytes: ${2 * uploadBytes}\nworkers:\n  count: 0\n`,
  );
  ({ base, auth } = serve);
}, 90_000);

afterAll(async () => {
  await serve?.stop();
  models.cleanup();
});

/** Peak resident set size of a process so far, in bytes (Linux: VmHWM). */
function peakRss(pid: number): number {
  const kb = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]!;
  return Number(kb) * 1024;
}

/** A multipart body made on the fly: the `target` field, then `size` bytes of one file. */
function multipartStream(
  target: string,
  size: number,
): { body: ReadableStream<Uint8Array>; sha256: () => string; boundary: string } {
  const boundary = `inferq-${randomBytes(8).toString('hex')}`;
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="target"\r\n\r\n${target}\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n` +
      'Content-Type: application/octet-stream\r\n\r\n',
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const block = randomBytes(1024 * 1024);
  const hash = createHash('sha256');
  let sent = 0;
  let stage: 'head' | 'file' | 'tail' | 'done' = 'head';
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (stage === 'head') {
        controller.enqueue(head);
        stage = 'file';
      } else if (stage === 'file') {
        // Each megabyte differs (its first bytes count up), so the content is not one repeated block.
        const chunk = Buffer.from(block.subarray(0, Math.min(block.length, size - sent)));
        chunk.writeUInt32BE(sent / block.length, 0);
        hash.update(chunk);
        controller.enqueue(chunk);
        sent += chunk.length;
        if (sent >= size) stage = 'tail';
      } else if (stage === 'tail') {
        controller.enqueue(tail);
        stage = 'done';
      } else controller.close();
    },
  });
  return { body, sha256: () => hash.digest('hex'), boundary };
}

/** POSTs a streamed multipart body to /v1/tasks. */
function send(upload: { body: ReadableStream<Uint8Array>; boundary: string }): Promise<Response> {
  return fetch(`${base}/v1/tasks`, {
    method: 'POST',
    headers: { ...auth, 'content-type': `multipart/form-data; boundary=${upload.boundary}` },
    body: upload.body,
    duplex: 'half',
  } as RequestInit);
}

it.skipIf(!onLinux)(
  'streams a 256 MiB upload into the blob store without holding it in memory',
  async () => {
    const pid = serve.process.child.pid!;
    // Warm up the upload path (its code, buffers) before taking the baseline.
    expect((await send(multipartStream('sink', 4 * 1024 * 1024))).status).toBe(202);
    const before = peakRss(pid);

    const upload = multipartStream('sink', uploadBytes);
    const response = await send(upload);
    expect(response.status).toBe(202);
    const { tasks } = (await response.json()) as { tasks: Array<{ id: string; inputSha256: string }> };
    const digest = upload.sha256();
    expect(tasks[0]!.inputSha256).toBe(digest);
    // A server that buffered the upload would have grown by all of it; chunks awaiting garbage
    // collection stay far below half.
    expect(peakRss(pid) - before).toBeLessThan(uploadBytes / 2);

    // Stored whole: the input reads back with the same hash and size.
    const input = await fetch(`${base}/v1/tasks/${tasks[0]!.id}/input`, { headers: auth });
    expect(input.status).toBe(200);
    const hash = createHash('sha256');
    let size = 0;
    for await (const chunk of input.body as unknown as AsyncIterable<Uint8Array>) {
      hash.update(chunk);
      size += chunk.length;
    }
    expect({ size, sha256: hash.digest('hex') }).toEqual({ size: uploadBytes, sha256: digest });
  },
  120_000,
);
