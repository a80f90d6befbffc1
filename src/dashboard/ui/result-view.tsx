import { useEffect, useMemo, useState } from 'preact/hooks';
import { formatBytes } from './format.js';

/** Beyond this many characters the page shows the head only and offers the whole as a download. */
const maxShownChars = 64 * 1024;

/** A result as JSON; a large one truncated (the page stays fast) with a download of the whole. */
export function ResultView(props: { result: unknown; taskId: string }) {
  const text = useMemo(() => JSON.stringify(props.result, null, 2) ?? 'null', [props.result]);
  // The download is the result as the API returns it (compact): indentation alone can double a
  // large result of nested arrays (OCR boxes).
  const compact = useMemo(() => JSON.stringify(props.result) ?? 'null', [props.result]);
  const [href, setHref] = useState<string | undefined>(undefined);
  const truncated = text.length > maxShownChars;
  useEffect(() => {
    const url = URL.createObjectURL(new Blob([compact], { type: 'application/json' }));
    setHref(url);
    return () => URL.revokeObjectURL(url);
  }, [compact]);
  return (
    <div class="result">
      {truncated && (
        <p class="warning">
          The result is {formatBytes(compact.length)}; the first {formatBytes(maxShownChars)} of it, indented,
          are shown.
        </p>
      )}
      <pre>{truncated ? `${text.slice(0, maxShownChars)}\n…` : text}</pre>
      {href && (
        <a href={href} download={`${props.taskId}.result.json`} class="download">
          Download result ({formatBytes(compact.length)})
        </a>
      )}
    </div>
  );
}
