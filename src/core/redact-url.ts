/**
 * A backend URL fit to print (a banner, a log line, an error message): its password, if any,
 * replaced by `***`, so database and broker credentials stay out of output.
 * `postgres://app:secret@db/inferq` → `postgres://app:***@db/inferq`; `redis://:secret@cache` →
 * `redis://:***@cache`. A string that is not a URL is returned as it is.
 */
export function redactUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return url;
  }
  if (parsed.password === '') return url;
  parsed.password = '***';
  return parsed.toString();
}
