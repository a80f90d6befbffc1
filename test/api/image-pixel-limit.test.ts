import { deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import type { CatalogEntry } from '../../src/core/model-catalog.js';
import { StaticModelCatalog } from '../../src/core/static-model-catalog.js';
import { bearer, createAppFixture, multipart, testCatalogEntries } from './app-fixture.js';

const code = (res: { json(): unknown }) => (res.json() as { error: { code: string } }).error.code;

describe("images over sharp's own pixel limit", () => {
  /** A real grey 1-bit PNG of width × height: a few tens of KB however many pixels it has. */
  const hugePng = (width: number, height: number) => {
    const crcTable = Array.from({ length: 256 }, (_, n) => {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      return c >>> 0;
    });
    const crc = (bytes: Buffer) => {
      let c = 0xffffffff;
      for (const b of bytes) c = crcTable[(c ^ b) & 255]! ^ (c >>> 8);
      return (c ^ 0xffffffff) >>> 0;
    };
    const chunk = (type: string, data: Buffer) => {
      const typed = Buffer.concat([Buffer.from(type), data]);
      const out = Buffer.alloc(typed.length + 8);
      out.writeUInt32BE(data.length, 0);
      typed.copy(out, 4);
      out.writeUInt32BE(crc(typed), typed.length + 4);
      return out;
    };
    const header = Buffer.alloc(13);
    header.writeUInt32BE(width, 0);
    header.writeUInt32BE(height, 4);
    header[8] = 1; // bit depth 1, colour type 0 (grey)
    const rows = Buffer.alloc((1 + Math.ceil(width / 8)) * height);
    return Buffer.concat([
      Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]),
      chunk('IHDR', header),
      chunk('IDAT', deflateSync(rows, { level: 1 })),
      chunk('IEND', Buffer.alloc(0)),
    ]);
  };

  it('→ 413 INFERQ_INPUT_TOO_LARGE naming the limit, not 422 undecodable ', async () => {
    // An image model that sets no maxPixels: sharp's own limit (0x3FFF², about 268 Mpx) is its limit.
    const open: CatalogEntry = {
      kind: 'model',
      name: 'any-image',
      version: '1',
      available: true,
      spec: { name: 'any-image', version: '1', runtime: 'js', artifact: './m.js', input: { kind: 'image' } },
    };
    const g = await createAppFixture({
      catalog: new StaticModelCatalog([...testCatalogEntries, open]),
    });
    try {
      const png17k = hugePng(17_000, 17_000); // 289 Mpx
      expect(png17k.length).toBeLessThan(200_000);
      const upload = async (bytes: Buffer, name: string) => {
        const body = await multipart([
          ['target', 'any-image'],
          ['file', bytes, name],
        ]);
        return g.app.inject({
          method: 'POST',
          url: '/v1/tasks',
          headers: { ...bearer(g.keys.user), ...body.headers },
          payload: body.payload,
        });
      };
      // (SVG is sniffed as text, never an image input: a 415 before any pixel question.)
      const res = await upload(png17k, 'huge.png');
      expect([res.statusCode, code(res)]).toEqual([413, 'INFERQ_INPUT_TOO_LARGE']);
      expect(res.json().error.details).toEqual({
        limit: 0x3fff * 0x3fff,
        pixels: 17_000 * 17_000,
        target: 'any-image',
      });
      // Under the limit the same kind of image passes (the 413 is about the pixels).
      const small = hugePng(2_000, 2_000);
      expect((await upload(small, 'small.png')).statusCode).toBe(202);
    } finally {
      await g.close();
    }
  });
});
