/** Administration: users and roles, responsible units, the working calendar, the audit log. */
import { useEffect, useRef, useState } from 'preact/hooks';
import { ROLES, type UnitView, type UserView } from '../../../../domain/index.ts';
import { ApiError, api } from '../api.ts';
import { categoryName, useApp, useData } from '../app.tsx';
import { FieldError, focusFirstInvalid } from '../components/field-error.tsx';
import { ErrorBox, Section } from '../components/ui.tsx';
import { type Problem, unitProblems } from '../forms.ts';
import { fmtTime } from '../i18n.ts';
import { Calendar } from './admin-calendar.tsx';

type User = UserView;

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

type UnitRow = UnitView;

function Units() {
  const app = useApp();
  const { m } = app;
  const units = useData(() => api.get<{ items: UnitRow[] }>('/api/units'), []);
  const [editing, setEditing] = useState<UnitRow | null>(null);
  const [form, setForm] = useState({ id: '', name: '', categories: [] as string[], gridCodes: '' });
  const [problems, setProblems] = useState<Problem[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState(false);
  const formRef = useRef<HTMLFormElement>(null);
  const edit = (u: UnitRow | null) => {
    setEditing(u);
    setProblems([]);
    setError(null);
    setSaved(false);
    setForm(
      u
        ? { id: u.id, name: u.name, categories: [...u.categories], gridCodes: (u.gridCodes ?? []).join(' ') }
        : { id: '', name: '', categories: [], gridCodes: '' },
    );
    setTimeout(() => formRef.current?.querySelector<HTMLElement>(u ? '#unit-name' : '#unit-id')?.focus(), 0);
  };
  async function save(e: Event) {
    e.preventDefault();
    setError(null);
    setSaved(false);
    const id = form.id.trim();
    const { problems: p, body } = unitProblems(m, { ...form, id });
    setProblems(p);
    if (!body) {
      focusFirstInvalid(formRef.current);
      return;
    }
    try {
      await api.put(`/api/units/${encodeURIComponent(id)}`, body);
      setSaved(true);
      setEditing({ id, ...body });
      units.reload();
    } catch (err) {
      setError(err);
    }
  }
  const invalid = (f: string) => problems.some((p) => p.field === f);
  const cats = [...app.categories.values()];
  return (
    <Section title={m.units} id="units">
      <ErrorBox error={units.error} />
      <table class="table" data-testid="units">
        <thead>
          <tr>
            <th scope="col">ID</th>
            <th scope="col">{m.name}</th>
            <th scope="col">{m.categories}</th>
            <th scope="col">
              <span class="sr-only">{m.actions}</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {(units.data?.items ?? []).map((u) => (
            <tr key={u.id}>
              <td class="mono">{u.id}</td>
              <td>{u.name}</td>
              <td>{u.categories.map((c) => categoryName(app, c)).join('、') || '—'}</td>
              <td>
                <button
                  type="button"
                  class="small"
                  aria-label={`${m.edit} ${u.name}`}
                  onClick={() => edit(u)}
                >
                  {m.edit}
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <form
        class="unit-form"
        ref={formRef}
        onSubmit={save}
        noValidate
        aria-labelledby="unit-form-h"
        // Escape leaves an edit: the form goes back to a new unit.
        onKeyDown={(e) => {
          if (e.key === 'Escape' && editing) {
            e.preventDefault();
            edit(null);
          }
        }}
      >
        <h3 id="unit-form-h">{editing ? `${m.editUnit}: ${editing.id}` : m.newUnit}</h3>
        <div class="filters">
          <label class="filter" for="unit-id">
            <span>ID</span>
            <input
              id="unit-id"
              name="id"
              value={form.id}
              readOnly={!!editing}
              aria-invalid={invalid('id')}
              aria-describedby="unit-id-err"
              onInput={(e) => setForm({ ...form, id: (e.target as HTMLInputElement).value })}
            />
            <FieldError id="unit-id-err" problems={problems} field="id" />
          </label>
          <label class="filter" for="unit-name">
            <span>{m.name}</span>
            <input
              id="unit-name"
              name="name"
              value={form.name}
              aria-invalid={invalid('name')}
              aria-describedby="unit-name-err"
              onInput={(e) => setForm({ ...form, name: (e.target as HTMLInputElement).value })}
            />
            <FieldError id="unit-name-err" problems={problems} field="name" />
          </label>
          <label class="filter wide" for="unit-grids">
            <span>{m.unitGrids}</span>
            <input
              id="unit-grids"
              name="gridCodes"
              value={form.gridCodes}
              placeholder="330102001"
              aria-invalid={invalid('gridCodes')}
              aria-describedby="unit-grids-err"
              onInput={(e) => setForm({ ...form, gridCodes: (e.target as HTMLInputElement).value })}
            />
            <FieldError id="unit-grids-err" problems={problems} field="gridCodes" />
          </label>
        </div>
        <fieldset class="checks">
          <legend>{m.categories}</legend>
          {cats.map((c) => (
            <label key={c.code} class="check">
              <input
                type="checkbox"
                name="categories"
                value={c.code}
                checked={form.categories.includes(c.code)}
                onChange={(e) =>
                  setForm({
                    ...form,
                    categories: (e.target as HTMLInputElement).checked
                      ? [...form.categories, c.code]
                      : form.categories.filter((x) => x !== c.code),
                  })
                }
              />{' '}
              <span class="mono">{c.code}</span> {categoryName(app, c.code)}
            </label>
          ))}
        </fieldset>
        <ErrorBox error={error} />
        {saved && (
          <p role="status" class="ok-text">
            ✓ {m.saved}
          </p>
        )}
        <div class="action-row">
          <button type="submit" class="primary">
            {m.save}
          </button>
          {editing && (
            <button type="button" onClick={() => edit(null)}>
              {m.newUnit}
            </button>
          )}
        </div>
      </form>
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
