/**
 * The multipart form of the two routes that take files, for `/openapi.json` (and so the Swagger
 * UI at /docs, which then offers a file picker). Documentation only: multipart bodies are
 * streamed part by part by the routes themselves (api/submit/read-inputs.ts), never validated
 * as a whole by Fastify, so the route schemas name JSON alone.
 */

// The examples are what the Swagger UI fills each field with: blank for the optional ones (a
// blank field counts as not given), so that "Try it out" sends no stray params or callback.
const fields = {
  params: {
    type: 'string',
    example: '',
    description: "the model's params as a JSON object (checked against its params schema)",
  },
  priority: { type: 'integer', minimum: -1000, maximum: 1000, example: 0, description: 'higher runs first' },
  callbackUrl: {
    type: 'string',
    format: 'uri',
    example: '',
    description: 'POSTed the final task, signed (http or https; not loopback or private addresses)',
  },
  file: {
    type: 'array',
    items: { type: 'string', format: 'binary' },
    description:
      'one or more input files; the media type is judged from the bytes, the name is metadata only',
  },
} as const;

const fieldsFirst =
  'Fields must come before the files: the targets decide each file’s byte limit, and each file is streamed straight to storage.';

// No other field is taken (read-inputs.ts refuses an unknown one, naming it): say so.
const tasksForm = {
  type: 'object',
  required: ['file'],
  additionalProperties: false,
  description: `N files × M targets become N × M tasks. ${fieldsFirst}`,
  properties: {
    target: {
      type: 'array',
      items: { type: 'string', example: 'ocr' },
      description:
        'a model or pipeline, `name` or `name@version`; repeat the field (or separate with commas) for several',
    },
    ...fields,
  },
} as const;

const predictForm = {
  type: 'object',
  required: ['file'],
  additionalProperties: false,
  description: `One file; the model is the one in the path. ${fieldsFirst}`,
  properties: { ...fields, file: { type: 'string', format: 'binary', description: fields.file.description } },
} as const;

/** The part of an OpenAPI document this reads. */
interface Paths {
  paths?: Record<
    string,
    Record<string, { requestBody?: { content?: Record<string, unknown> } } | undefined> | undefined
  >;
}

/** `@fastify/swagger`'s `transformObject`: adds `multipart/form-data` to the file-taking routes. */
export function documentMultipart<T extends object>({ openapiObject }: { openapiObject: T }): T {
  const { paths } = openapiObject as Paths;
  for (const [path, form] of [
    ['/v1/tasks', tasksForm],
    ['/v1/models/{name}/predict', predictForm],
  ] as const) {
    const content = paths?.[path]?.post?.requestBody?.content;
    if (content !== undefined) content['multipart/form-data'] = { schema: form };
  }
  return openapiObject;
}
