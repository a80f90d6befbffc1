/** A polygon to draw over the input image, with its recognised text when there is one. */
export interface Box {
  points: Array<[number, number]>;
  text?: string;
  score?: number;
}

function isPoint(p: unknown): p is [number, number] {
  return Array.isArray(p) && p.length >= 2 && typeof p[0] === 'number' && typeof p[1] === 'number';
}

function asPolygon(value: unknown): Array<[number, number]> | undefined {
  if (Array.isArray(value) && value.length >= 3 && value.every(isPoint)) {
    return value.map((p) => [p[0], p[1]]);
  }
  return undefined;
}

/**
 * Finds detection boxes anywhere in a result: objects with `points`, `box`, `polygon` or
 * `quad` (≥ 3 [x, y] points), with `text` and `score` when present. Covers `ocr-det`
 * (`{ width, height, boxes: [{ points, score }] }`) and OCR pipelines (`lines: [{ box, text }]`).
 */
export function findBoxes(result: unknown, limit = 5_000): Box[] {
  const found: Box[] = [];
  const visit = (node: unknown, depth: number) => {
    if (found.length >= limit || depth > 6 || node === null || typeof node !== 'object') return;
    if (Array.isArray(node)) {
      for (const item of node) visit(item, depth + 1);
      return;
    }
    const record = node as Record<string, unknown>;
    const polygon = asPolygon(record.points ?? record.box ?? record.polygon ?? record.quad);
    if (polygon) {
      found.push({
        points: polygon,
        ...(typeof record.text === 'string' ? { text: record.text } : {}),
        ...(typeof record.score === 'number' ? { score: record.score } : {}),
      });
      return;
    }
    for (const value of Object.values(record)) visit(value, depth + 1);
  };
  visit(result, 0);
  return found;
}

/** The coordinate space of the boxes when the result says so (`width`, `height`). */
export function resultSize(result: unknown): { width: number; height: number } | undefined {
  const r = result as { width?: unknown; height?: unknown } | null;
  return r && typeof r.width === 'number' && typeof r.height === 'number'
    ? { width: r.width, height: r.height }
    : undefined;
}
