import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import {
  jsonSniffMaxBytes,
  MediaTypeSniffer,
  normaliseExtension,
  sniffMediaType,
} from '../../src/blobs/sniff-media-type.js';

const image = () => sharp({ create: { width: 4, height: 4, channels: 3, background: '#3366cc' } });

describe('sniffMediaType', () => {
  it.each([
    ['png', () => image().png().toBuffer(), 'image/png', 'png'],
    ['jpeg', () => image().jpeg().toBuffer(), 'image/jpeg', 'jpg'],
    ['webp', () => image().webp().toBuffer(), 'image/webp', 'webp'],
    ['tiff', () => image().tiff().toBuffer(), 'image/tiff', 'tiff'],
    ['gif', () => image().gif().toBuffer(), 'image/gif', 'gif'],
  ])('recognises %s made by sharp', async (_name, make, mediaType, ext) => {
    expect(await sniffMediaType(await make())).toEqual({ mediaType, ext });
  });

  it('recognises a PDF from its header', async () => {
    expect(await sniffMediaType(Buffer.from('%PDF-1.4\n1 0 obj\n<<>>\nendobj\n'))).toEqual({
      mediaType: 'application/pdf',
      ext: 'pdf',
    });
  });

  it('calls UTF-8 text without NUL bytes text/plain', async () => {
    expect(await sniffMediaType(Buffer.from('ünïcödé text ✓\n'))).toEqual({
      mediaType: 'text/plain',
      ext: 'txt',
    });
  });

  it('calls a JSON object or array application/json, with or without a BOM', async () => {
    const json = { mediaType: 'application/json', ext: 'json' };
    expect(await sniffMediaType(Buffer.from(' {"a": [1, 2, {"b": null}]}\n'))).toEqual(json);
    expect(await sniffMediaType(Buffer.from('[1,2,3]'))).toEqual(json);
    expect(await sniffMediaType(Buffer.from('\uFEFF{"bom":true}'))).toEqual(json);
  });

  it('calls broken JSON and bare JSON scalars text', async () => {
    const text = { mediaType: 'text/plain', ext: 'txt' };
    expect(await sniffMediaType(Buffer.from('{"a": 1'))).toEqual(text);
    expect(await sniffMediaType(Buffer.from('42'))).toEqual(text);
    expect(await sniffMediaType(Buffer.from('true'))).toEqual(text);
  });

  it('calls text with a NUL byte, invalid UTF-8 and empty content application/octet-stream', async () => {
    const bin = { mediaType: 'application/octet-stream', ext: 'bin' };
    expect(await sniffMediaType(Buffer.from('text\u0000more'))).toEqual(bin);
    expect(await sniffMediaType(Buffer.from([0x68, 0x69, 0xc3, 0x28]))).toEqual(bin);
    expect(await sniffMediaType(Buffer.from([0x68, 0x69, 0xe2, 0x82]))).toEqual(bin); // cut mid-character
    expect(await sniffMediaType(new Uint8Array(0))).toEqual(bin);
  });
});

describe('MediaTypeSniffer', () => {
  it('gives the same answer whatever the chunking, even when a character is split', async () => {
    const bytes = Buffer.from('{"greeting":"grüße ✓"}');
    for (let cut = 1; cut < bytes.length; cut += 1) {
      const sniffer = new MediaTypeSniffer();
      sniffer.write(bytes.subarray(0, cut));
      sniffer.write(bytes.subarray(cut));
      expect(await sniffer.finish()).toEqual({ mediaType: 'application/json', ext: 'json' });
    }
  });

  it('sees a NUL byte or invalid UTF-8 far past the head', async () => {
    const sniffer = new MediaTypeSniffer();
    sniffer.write(Buffer.alloc(100_000, 'a'));
    sniffer.write(Buffer.from([0]));
    expect(await sniffer.finish()).toEqual({ mediaType: 'application/octet-stream', ext: 'bin' });
  });

  it('reports JSON larger than the sniff limit as text instead of holding it all', async () => {
    const sniffer = new MediaTypeSniffer();
    sniffer.write(Buffer.from('['));
    const filler = Buffer.from('1,'.repeat(64 * 1024));
    for (let n = 0; n <= jsonSniffMaxBytes; n += filler.length) sniffer.write(filler);
    sniffer.write(Buffer.from('1]'));
    expect(await sniffer.finish()).toEqual({ mediaType: 'text/plain', ext: 'txt' });
  });
});

describe('normaliseExtension', () => {
  it.each([
    ['jpeg', 'jpg'],
    ['JPG', 'jpg'],
    ['.jpe', 'jpg'],
    ['tif', 'tiff'],
    ['TIFF', 'tiff'],
    ['png', 'png'],
    ['htm', 'html'],
  ])('%s → %s', (ext, expected) => {
    expect(normaliseExtension(ext)).toBe(expected);
  });
});
