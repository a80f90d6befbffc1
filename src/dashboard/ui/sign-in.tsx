import { useState } from 'preact/hooks';
import { errorText } from './format.js';
import { type Session, signIn } from './session.js';

/** Sign in with an API key (exchanged for a short-lived token; the key is not kept). */
export function SignIn(props: { onSignedIn: (session: Session) => void }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      props.onSignedIn(await signIn(key));
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="sign-in" onSubmit={submit}>
      <h1>inferq</h1>
      <label>
        API key
        <input
          type="password"
          name="apiKey"
          autocomplete="off"
          placeholder="iq_…"
          value={key}
          onInput={(e) => setKey(e.currentTarget.value)}
        />
      </label>
      <button type="submit" disabled={busy || key.trim() === ''}>
        {busy ? 'Signing in…' : 'Sign in'}
      </button>
      {error && <p class="error">{error}</p>}
      <p class="muted">
        Create a key with <code>inferq keys create --tenant NAME</code>.
      </p>
    </form>
  );
}
