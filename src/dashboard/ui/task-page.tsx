import { useEffect, useState } from 'preact/hooks';
import type { InferqClient } from '../../client/inferq-client.js';
import type { Task } from '../../client/types.js';
import { errorText, formatBytes, formatMs, formatTime } from './format.js';
import { InputPreview } from './input-preview.js';
import { ResultView } from './result-view.js';
import { navigate } from './router.js';

const isFinal = (t: Task) => t.state === 'succeeded' || t.state === 'failed' || t.state === 'cancelled';

/**
 * One task, live: its state follows the task's event stream (polling when the stream is
 * unavailable) until final, then the full task with its result is shown.
 */
export function TaskPage(props: { client: InferqClient; id: string }) {
  const { client, id } = props;
  const [task, setTask] = useState<Task | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const [generation, setGeneration] = useState(0);

  useEffect(() => {
    const controller = new AbortController();
    setError(undefined);
    (async () => {
      const first = await client.get(id, { signal: controller.signal });
      setTask(first);
      if (isFinal(first)) return;
      for await (const update of client.watch(id, { signal: controller.signal })) {
        setTask((prev) => ({ ...prev, ...update }));
      }
    })().catch((err) => {
      if (!controller.signal.aborted) setError(errorText(err));
    });
    return () => controller.abort();
  }, [client, id, generation]);

  const act = async (action: () => Promise<void>) => {
    setBusy(true);
    setError(undefined);
    try {
      await action();
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  const cancel = () =>
    act(async () => {
      await client.cancel(id);
      setGeneration((g) => g + 1);
    });
  const remove = () =>
    act(async () => {
      if (!confirm('Delete this task, its result and its input?')) return;
      await client.cancel(id, { purge: true });
      navigate('/tasks');
    });
  // A retry is a new task on the same input, target and params (the old one stays as history).
  const retry = () =>
    act(async () => {
      if (task === undefined) return;
      const input = await client.input(id);
      const submission = await client.submit(task.target, [input], {
        params: task.params,
        priority: task.priority,
      });
      navigate(`/tasks/${submission.tasks[0]!.id}`);
    });

  if (task === undefined) return <p class={error ? 'error' : 'muted'}>{error ?? 'loading…'}</p>;
  return (
    <section class="task-page">
      <div class="task-head">
        <h2 class="mono">{task.id}</h2>
        <span class={`badge state-${task.state}`} data-testid="task-state">
          {task.state}
        </span>
        <div class="actions">
          {!isFinal(task) && (
            <button type="button" disabled={busy} onClick={cancel}>
              Cancel
            </button>
          )}
          {isFinal(task) && task.state !== 'succeeded' && (
            <button type="button" disabled={busy} onClick={retry}>
              Retry
            </button>
          )}
          <button type="button" class="danger" disabled={busy} onClick={remove}>
            Delete
          </button>
        </div>
      </div>
      {error && <p class="error">{error}</p>}
      <dl class="facts">
        <dt>target</dt>
        <dd>{task.target}</dd>
        <dt>attempts</dt>
        <dd>
          {task.attempts} of {task.maxAttempts}
        </dd>
        <dt>input</dt>
        <dd>
          {task.input.name && <span class="mono">{task.input.name} · </span>}
          {task.input.mediaType}, {formatBytes(task.input.size)}
        </dd>
        <dt>request</dt>
        <dd class="mono">
          <a href={`#/tasks?request=${task.requestId}`}>{task.requestId}</a>
        </dd>
        <dt>created</dt>
        <dd>{formatTime(task.createdAt)}</dd>
        <dt>took</dt>
        <dd>{formatMs(task.finishedAt === null ? null : task.finishedAt - task.createdAt)}</dd>
        {task.cached && (
          <>
            <dt>cache</dt>
            <dd>result from the result cache</dd>
          </>
        )}
      </dl>
      {task.error && (
        <p class="error" data-testid="task-error">
          {task.error.code}: {task.error.message}
        </p>
      )}
      <div class="task-body">
        <div>
          <h3>Input</h3>
          <InputPreview client={client} task={task} />
        </div>
        <div>
          <h3>Timeline</h3>
          <ol class="timeline">
            {(task.timeline ?? []).map((entry, i) => (
              <li key={i}>
                <span class="stage">{entry.stage}</span>
                <span class="muted">+{formatMs(entry.at - task.createdAt)}</span>
              </li>
            ))}
          </ol>
        </div>
      </div>
      {task.state === 'succeeded' && (
        <>
          <h3>Result</h3>
          <ResultView result={task.result} taskId={task.id} />
        </>
      )}
    </section>
  );
}
