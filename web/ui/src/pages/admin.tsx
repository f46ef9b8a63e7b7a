/** Administration: users and roles, responsible units, the working calendar, the audit log. */
import { useEffect, useState } from 'preact/hooks';
import { ROLES } from '../../../../domain/index.ts';
import { ApiError, api } from '../api.ts';
import { categoryName, useApp, useData } from '../app.tsx';
import { ErrorBox, Section } from '../components/ui.tsx';
import { fmtTime } from '../i18n.ts';

interface User {
  id: string;
  name: string;
  role: string;
  unitId: string | null;
  gridCodes: string[];
}

function Users() {
  const app = useApp();
  const { m } = app;
  const users = useData(() => api.get<{ items: User[] }>('/api/users'), []);
  const [error, setError] = useState<unknown>(null);
  const [role, setRole] = useState<string>('operator');
  async function add(e: Event) {
    e.preventDefault();
    const form = e.target as HTMLFormElement;
    const f = new FormData(form);
    setError(null);
    try {
      await api.post('/api/users', {
        id: String(f.get('id')).trim(),
        name: String(f.get('name')).trim(),
        role,
        unitId: role === 'unit' ? String(f.get('unitId') || '') || null : null,
        gridCodes: String(f.get('gridCodes') ?? '')
          .split(/[\s,]+/)
          .filter(Boolean),
        password: String(f.get('password')),
      });
      form.reset();
      users.reload();
    } catch (err) {
      setError(err);
    }
  }
  return (
    <Section title={m.users} id="users">
      <ErrorBox error={users.error ?? error} />
      <table class="table">
        <thead>
          <tr>
            <th scope="col">ID</th>
            <th scope="col">{m.name}</th>
            <th scope="col">{m.role}</th>
            <th scope="col">{m.unit}</th>
            <th scope="col">{m.grid}</th>
            <th scope="col">
              <span class="sr-only">{m.actions}</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {(users.data?.items ?? []).map((u) => (
            <tr key={u.id}>
              <td class="mono">{u.id}</td>
              <td>{u.name}</td>
              <td>{(m.roles as Record<string, string>)[u.role] ?? u.role}</td>
              <td>{u.unitId ?? '—'}</td>
              <td class="mono">{u.gridCodes.join(', ') || '—'}</td>
              <td>
                <button
                  type="button"
                  class="danger small"
                  aria-label={`${m.delete} ${u.id}`}
                  onClick={async () => {
                    try {
                      await api.del(`/api/users/${encodeURIComponent(u.id)}`);
                      users.reload();
                    } catch (err) {
                      setError(err);
                    }
                  }}
                >
                  {m.delete}
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <form class="filters" onSubmit={add}>
        <label class="filter" for="nu-id">
          <span>ID</span>
          <input id="nu-id" name="id" required pattern="[A-Za-z0-9][A-Za-z0-9._@\-]{0,63}" />
        </label>
        <label class="filter" for="nu-name">
          <span>{m.name}</span>
          <input id="nu-name" name="name" required maxLength={200} />
        </label>
        <label class="filter" for="nu-role">
          <span>{m.role}</span>
          <select id="nu-role" value={role} onChange={(e) => setRole((e.target as HTMLSelectElement).value)}>
            {ROLES.map((r) => (
              <option key={r} value={r}>
                {m.roles[r]}
              </option>
            ))}
          </select>
        </label>
        {role === 'unit' && (
          <label class="filter" for="nu-unit">
            <span>{m.unit}</span>
            <select id="nu-unit" name="unitId">
              {[...app.units.values()].map((u) => (
                <option key={u.id} value={u.id}>
                  {u.name}
                </option>
              ))}
            </select>
          </label>
        )}
        {role === 'inspector' && (
          <label class="filter" for="nu-grids">
            <span>{m.grid}</span>
            <input id="nu-grids" name="gridCodes" placeholder="330102001" pattern="[0-9,\s]*" />
          </label>
        )}
        <label class="filter" for="nu-pw">
          <span>{m.password}</span>
          <input
            id="nu-pw"
            name="password"
            type="password"
            required
            minLength={8}
            autocomplete="new-password"
          />
        </label>
        <button type="submit" class="primary">
          {m.add}
        </button>
      </form>
    </Section>
  );
}

function Units() {
  const app = useApp();
  const { m } = app;
  return (
    <Section title={m.units} id="units">
      <table class="table">
        <thead>
          <tr>
            <th scope="col">ID</th>
            <th scope="col">{m.name}</th>
            <th scope="col">{m.categories}</th>
          </tr>
        </thead>
        <tbody>
          {[...app.units.values()].map((u) => (
            <tr key={u.id}>
              <td class="mono">{u.id}</td>
              <td>{u.name}</td>
              <td>{u.categories.map((c) => categoryName(app, c)).join('、')}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </Section>
  );
}

function Calendar() {
  const { m } = useApp();
  const cal = useData(() => api.get<Record<string, unknown>>('/api/calendar'), []);
  const [text, setText] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState(false);
  useEffect(() => {
    if (cal.data) setText(JSON.stringify(cal.data, null, 2));
  }, [cal.data]);
  return (
    <Section title={m.calendar} id="calendar">
      <label for="cal-json" class="sr-only">
        {m.calendar}
      </label>
      <textarea
        id="cal-json"
        class="mono"
        rows={10}
        value={text}
        onInput={(e) => setText((e.target as HTMLTextAreaElement).value)}
      />
      <ErrorBox error={error} />
      {saved && <p role="status">✓</p>}
      <button
        type="button"
        class="primary"
        onClick={async () => {
          setError(null);
          setSaved(false);
          let parsed: unknown;
          try {
            parsed = JSON.parse(text);
          } catch (e) {
            setError(new ApiError(400, 'JSON', (e as Error).message));
            return;
          }
          try {
            await api.put('/api/calendar', parsed);
            setSaved(true);
            cal.reload();
          } catch (e) {
            setError(e);
          }
        }}
      >
        {m.save}
      </button>
    </Section>
  );
}

function Audit() {
  const { m, lang } = useApp();
  const audit = useData(() => api.get<{ items: Record<string, unknown>[] }>('/api/audit?limit=50'), []);
  const missing = audit.error instanceof ApiError && audit.error.status === 404;
  const rows = audit.data?.items ?? [];
  const cols = rows[0] ? Object.keys(rows[0]).slice(0, 6) : [];
  return (
    <Section title={m.audit} id="audit">
      {missing ? <p class="muted">{m.auditMissing}</p> : <ErrorBox error={audit.error} />}
      {rows.length > 0 && (
        <table class="table">
          <thead>
            <tr>
              {cols.map((c) => (
                <th scope="col" key={c}>
                  {c}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {rows.map((r, i) => (
              <tr key={i}>
                {cols.map((c) => (
                  <td key={c}>
                    {c === 'at' || c === 'ts'
                      ? fmtTime(lang, r[c] as string)
                      : typeof r[c] === 'object'
                        ? JSON.stringify(r[c])
                        : String(r[c] ?? '')}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Section>
  );
}

export default function Admin() {
  const { m } = useApp();
  useEffect(() => {
    document.title = `${m.admin} · gridhub`;
  }, [m]);
  return (
    <div>
      <h1>{m.admin}</h1>
      <Users />
      <Units />
      <Calendar />
      <Audit />
    </div>
  );
}
