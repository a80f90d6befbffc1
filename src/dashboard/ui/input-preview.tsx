import { useEffect, useState } from 'preact/hooks';
import type { InferqClient } from '../../client/inferq-client.js';
import type { Task } from '../../client/types.js';
import { type Box, findBoxes, resultSize } from './boxes.js';

/**
 * The input image (fetched with the token, shown from a blob: URL) with the result's detected
 * boxes, and their text when the result has it, drawn over it in image pixels.
 */
export function InputPreview(props: { client: InferqClient; task: Task }) {
  const { task } = props;
  const [url, setUrl] = useState<string | undefined>(undefined);
  const [natural, setNatural] = useState<{ width: number; height: number } | undefined>(undefined);
  const isImage = task.input.mediaType.startsWith('image/');
  useEffect(() => {
    if (!isImage) return;
    let objectUrl: string | undefined;
    let stopped = false;
    props.client
      .input(task.id)
      .then((blob) => {
        if (stopped) return;
        objectUrl = URL.createObjectURL(blob);
        setUrl(objectUrl);
      })
      .catch(() => setUrl(undefined));
    return () => {
      stopped = true;
      if (objectUrl) URL.revokeObjectURL(objectUrl);
    };
  }, [task.id, isImage, props.client]);

  if (!isImage) return <p class="muted">input: {task.input.mediaType} (no preview)</p>;
  const boxes: Box[] = task.state === 'succeeded' ? findBoxes(task.result) : [];
  const size = resultSize(task.result) ?? natural;
  return (
    <div class="preview">
      <div class="frame">
        {url && (
          <img
            src={url}
            alt={`input of task ${task.id}`}
            onLoad={(e) => {
              const img = e.currentTarget as HTMLImageElement;
              setNatural({ width: img.naturalWidth, height: img.naturalHeight });
            }}
          />
        )}
        {size && boxes.length > 0 && (
          <svg
            class="boxes"
            viewBox={`0 0 ${size.width} ${size.height}`}
            preserveAspectRatio="none"
            role="img"
            aria-label={`${boxes.length} detected boxes`}
          >
            {boxes.map((box, i) => (
              <g key={i}>
                <polygon class="box" points={box.points.map((p) => p.join(',')).join(' ')}>
                  <title>
                    {box.text ?? (box.score === undefined ? `box ${i + 1}` : `score ${box.score.toFixed(2)}`)}
                  </title>
                </polygon>
                {box.text && (
                  <text
                    x={box.points[0]![0]}
                    y={box.points[0]![1] - 3}
                    font-size={Math.max(10, size.height / 40)}
                    class="box-text"
                  >
                    {box.text}
                  </text>
                )}
              </g>
            ))}
          </svg>
        )}
      </div>
      {boxes.length > 0 && <p class="muted">{boxes.length} boxes</p>}
    </div>
  );
}
