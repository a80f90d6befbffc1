import { useState } from 'preact/hooks';
import type { InferqClient } from '../../client/inferq-client.js';
import { errorText } from './format.js';
import { navigate } from './router.js';
import { usePoll } from './use-poll.js';

/** Upload files to one or more models; opens the task page when there is one task. */
export function SubmitForm(props: { client: InferqClient }) {
  const models = usePoll(() => props.client.models(), 0);
  const [files, setFiles] = useState<File[]>([]);
  const [targets, setTargets] = useState<string[]>([]);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>(undefined);
  const available = (models.data?.items ?? []).filter((m) => m.available);

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const chosen = targets.length > 0 ? targets : available.slice(0, 1).map((m) => m.ref);
      const submission = await props.client.submit(chosen, files);
      const first = submission.tasks[0];
      if (submission.tasks.length === 1 && first) navigate(`/tasks/${first.id}`);
      else navigate(`/tasks?request=${submission.requestId}`);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form class="submit-form" onSubmit={submit}>
      <label>
        Files
        <input
          type="file"
          name="files"
          multiple
          onChange={(e) => setFiles([...((e.currentTarget as HTMLInputElement).files ?? [])])}
        />
      </label>
      <label>
        Models
        <select
          name="models"
          multiple
          size={Math.min(4, Math.max(2, available.length))}
          onChange={(e) =>
            setTargets([...(e.currentTarget as HTMLSelectElement).selectedOptions].map((o) => o.value))
          }
        >
          {available.map((m) => (
            <option value={m.ref} key={m.ref}>
              {m.ref}
            </option>
          ))}
        </select>
      </label>
      <button type="submit" disabled={busy || files.length === 0}>
        {busy ? 'Submitting…' : `Submit ${files.length || ''} file${files.length === 1 ? '' : 's'}`}
      </button>
      {error && <p class="error">{error}</p>}
    </form>
  );
}
