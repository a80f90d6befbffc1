import { useMemo, useState } from 'preact/hooks';
import { Models } from './models.js';
import { Overview } from './overview.js';
import { useRoute } from './router.js';
import { clientFor, loadSession, type Session, signOut } from './session.js';
import { SignIn } from './sign-in.js';
import { TaskPage } from './task-page.js';
import { Tasks } from './tasks.js';
import { Workers } from './workers.js';

const pages = [
  { path: '/', label: 'Overview' },
  { path: '/workers', label: 'Workers', admin: true },
  { path: '/models', label: 'Models' },
  { path: '/tasks', label: 'Tasks' },
];

/** The dashboard shell: sign-in gate, navigation, and the page for the current hash route. */
export function App() {
  const [session, setSession] = useState<Session | undefined>(loadSession);
  const route = useRoute();
  const client = useMemo(() => (session ? clientFor(session) : undefined), [session]);
  if (session === undefined || client === undefined) return <SignIn onSignedIn={setSession} />;

  let page = <Overview client={client} admin={session.admin} />;
  const taskId = /^\/tasks\/(.+)$/.exec(route.path)?.[1];
  if (taskId) page = <TaskPage client={client} id={decodeURIComponent(taskId)} />;
  else if (route.path === '/tasks') page = <Tasks client={client} query={route.query} />;
  else if (route.path === '/models') page = <Models client={client} />;
  else if (route.path === '/workers') page = <Workers client={client} />;
  const active = route.path.startsWith('/tasks') ? '/tasks' : route.path;

  return (
    <div class="shell">
      <header>
        <span class="brand">inferq</span>
        <nav>
          {pages
            .filter((p) => !p.admin || session.admin)
            .map((p) => (
              <a key={p.path} href={`#${p.path}`} class={active === p.path ? 'active' : ''}>
                {p.label}
              </a>
            ))}
        </nav>
        <span class="who">
          {session.tenant}
          {session.admin ? ' (admin)' : ''}
          <button
            type="button"
            class="link"
            onClick={() => {
              signOut();
              setSession(undefined);
            }}
          >
            sign out
          </button>
        </span>
      </header>
      <main>{page}</main>
    </div>
  );
}
