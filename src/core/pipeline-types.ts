/**
 * The types values have between pipeline steps, checked when a spec is loaded.
 * - `file`: a blob of any media type (the task input); fits any blob port, the bytes are
 *   checked when read.
 * - `image`: a blob holding an image.
 * - `json`: a JSON value (a model's result); `fields` lists the properties it is known to
 *   have (from the model's output schema), so a port can ask for e.g. `boxes`.
 * `list: true` is a list of such values (what a map step or `crop-quads` yields).
 */
export interface ValueType {
  kind: 'file' | 'image' | 'json';
  list?: boolean;
  fields?: readonly string[];
}

/** A built-in transform: what each of its sources must be, what it gives. */
export interface TransformSignature {
  inputs: readonly ValueType[];
  /** How many of `inputs` a step must give (the rest may be left off); default all. */
  requiredInputs?: number;
  output: ValueType;
  /** `map` as the step must declare it: a per-item transform needs `map: true`. */
  map: boolean;
  description: string;
}

/**
 * The transforms the pipeline coordinator runs itself (no model, no queue): the one table of
 * their names. Their implementations (worker/pipeline/pipeline-transforms.ts, which core cannot
 * import) are keyed by {@link TransformName}, so a transform with a signature and no
 * implementation, or the other way round, fails the type check.
 */
const signatures = {
  'crop-quads': {
    inputs: [{ kind: 'image' }, { kind: 'json', fields: ['boxes'] }],
    output: { kind: 'image', list: true },
    map: false,
    description: 'cuts each box of a detection out of the image, perspective-corrected (a list of crops)',
  },
  'rotate-180': {
    inputs: [{ kind: 'image' }, { kind: 'json', fields: ['label', 'confidence'] }],
    output: { kind: 'image' },
    map: true,
    description: 'turns a crop half round where the direction classifier says "180" with confidence ≥ 0.9',
  },
  'rotate-180-other': {
    inputs: [{ kind: 'image' }, { kind: 'json', fields: ['label', 'confidence'] }],
    output: { kind: 'image' },
    map: true,
    description:
      'the crop the other way round from rotate-180, where the direction classifier could be wrong (any "180", or confidence < 0.9), else null: a second reading of that line',
  },
  'ocr-assemble': {
    inputs: [
      { kind: 'json', fields: ['boxes'] },
      { kind: 'json', list: true, fields: ['text', 'confidence'] },
      { kind: 'json', list: true, fields: ['text', 'confidence'] },
    ],
    requiredInputs: 2,
    output: { kind: 'json', fields: ['text', 'lines'] },
    map: false,
    description:
      'joins recognised lines in reading order: { text, lines: [{ text, confidence, box }] }; with a third source (second readings), keeps the more confident reading of each line; a line under 0.5 is flagged lowConfidence and left out of text',
  },
} satisfies Record<string, TransformSignature>;

/** The name of a built-in transform. */
export type TransformName = keyof typeof signatures;

export const transformSignatures: Readonly<Record<TransformName, TransformSignature>> = signatures;

/** Whether `name` is a built-in transform (its own key: `toString` is not one). */
export function isTransformName(name: string): name is TransformName {
  return Object.hasOwn(transformSignatures, name);
}

/** How a type reads in error messages: `image[]`, `json{boxes}`. */
export function describeType(type: ValueType): string {
  const fields = type.fields && type.fields.length > 0 ? `{${type.fields.join(', ')}}` : '';
  return `${type.kind}${fields}${type.list ? '[]' : ''}`;
}

/**
 * Whether a value of type `given` can go where `wanted` is expected. A list never fits a
 * single value (that needs `map: true`) and vice versa; `file` fits a blob port (its bytes
 * are checked when read); a json port asking for fields needs a source known to have them.
 */
export function fits(given: ValueType, wanted: ValueType): boolean {
  if (Boolean(given.list) !== Boolean(wanted.list)) return false;
  if (wanted.kind === 'json') {
    if (given.kind !== 'json') return false;
    const known = given.fields;
    return known === undefined || (wanted.fields ?? []).every((f) => known.includes(f));
  }
  if (given.kind === 'json') return false;
  return wanted.kind === 'file' || given.kind === 'image' || given.kind === 'file';
}
