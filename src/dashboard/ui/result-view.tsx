import { useEffect, useMemo, useState } from 'preact/hooks';
import { formatBytes } from './format.js';

/** Beyond this many characters the page shows the head only and offers the whole as a download. */
const maxShownChars = 64 * 1024;

/** A result as JSON; a large one truncated (the page stays fast) with a download of the whole. */
export function ResultView(props: { result: unknown; taskId: string }) {
  const text = useMemo(() => JSON.stringify(props.result, null, 2) ?? 'null', [props.result]);
  const [href, setHref] = useState<string | undefined>(undefined);
  const truncated = text.length > maxShownChars;
  useEffect(() => {
    const url = URL.createObjectURL(new Blob([text], { type: 'application/json' }));
    setHref(url);
    return () => URL.revokeObjectURL(url);
  }, [text]);
  return (
    <div class="result">
      {truncated && (
        <p class="warning">
          The result is {formatBytes(text.length)}; the first {formatBytes(maxShownChars)} are shown.
        </p>
      )}
      <pre>{truncated ? `${text.slice(0, maxShownChars)}\n…` : text}</pre>
      {href && (
        <a href={href} download={`${props.taskId}.result.json`} class="download">
          Download result ({formatBytes(text.length)})
        </a>
      )}
    </div>
  );
}
