/** Administration: users and roles, responsible units, the working calendar, the audit log. */
import { useEffect, useRef, useState } from 'preact/hooks';
import { ROLES } from '../../../../domain/index.ts';
import { ApiError, api } from '../api.ts';
import { type AppState, categoryName, useApp, useData } from '../app.tsx';
import { ErrorBox, Section } from '../components/ui.tsx';
import { calendarProblems, type Problem, unitProblems } from '../forms.ts';
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

interface UnitRow {
  id: string;
  name: string;
  categories: string[];
  gridCodes?: string[];
}

/** Field errors under their fields (aria-describedby), the first invalid field focused. */
function FieldError(props: { id: string; problems: Problem[]; field: string }) {
  const p = props.problems.filter((x) => x.field === props.field || x.field.startsWith(`${props.field}.`));
  if (p.length === 0) return null;
  return (
    <span class="field-error" id={props.id} role="alert">
      {p.map((x) => x.message).join(' ')}
    </span>
  );
}
const focusFirstInvalid = (form: HTMLElement | null) =>
  setTimeout(() => form?.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus(), 0);

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

const zoneOk = (zone: string) => {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return zone.length > 0;
  } catch {
    return false;
  }
};

type WorkingCalendar = NonNullable<AppState['calendar']>;

/** A list of dates (holidays, make-up working days): add with a date field, remove each. */
function DateList(props: {
  id: string;
  label: string;
  dates: string[];
  onChange: (d: string[]) => void;
  problems: Problem[];
  field: string;
}) {
  const { m, lang } = useApp();
  const [draft, setDraft] = useState('');
  const add = () => {
    if (!draft) return;
    props.onChange([...props.dates, draft].sort());
    setDraft('');
  };
  const bad = props.problems.some((p) => p.field === props.field);
  return (
    <fieldset class="date-list">
      <legend>{props.label}</legend>
      <ul aria-label={props.label}>
        {props.dates.map((d, i) => (
          <li key={`${d}-${i}`}>
            <span class="mono">{d}</span>{' '}
            <span class="muted">
              {Number.isNaN(Date.parse(d))
                ? ''
                : new Date(`${d}T00:00:00Z`).toLocaleDateString(lang === 'zh' ? 'zh-CN' : 'en-GB', {
                    weekday: 'short',
                    timeZone: 'UTC',
                  })}
            </span>{' '}
            <button
              type="button"
              class="small"
              aria-label={`${m.remove} ${d}`}
              onClick={() => props.onChange(props.dates.filter((_, j) => j !== i))}
            >
              ×
            </button>
          </li>
        ))}
      </ul>
      <div class="action-row">
        <label for={`${props.id}-new`} class="sr-only">
          {props.label}: {m.addDate}
        </label>
        <input
          id={`${props.id}-new`}
          type="date"
          value={draft}
          aria-invalid={bad}
          aria-describedby={`${props.id}-err`}
          onInput={(e) => setDraft((e.target as HTMLInputElement).value)}
          onKeyDown={(e) => {
            if (e.key === 'Enter') {
              e.preventDefault();
              add();
            }
          }}
        />
        <button type="button" onClick={add}>
          {m.addDate}
        </button>
      </div>
      <FieldError id={`${props.id}-err`} problems={props.problems} field={props.field} />
    </fieldset>
  );
}

function Calendar() {
  const { m } = useApp();
  const cal = useData(() => api.get<WorkingCalendar>('/api/calendar'), []);
  const [draft, setDraft] = useState<WorkingCalendar | null>(null);
  const [problems, setProblems] = useState<Problem[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState(false);
  const formRef = useRef<HTMLFormElement>(null);
  useEffect(() => {
    if (cal.data) setDraft(structuredClone(cal.data));
  }, [cal.data]);
  if (!draft)
    return (
      <Section title={m.calendar} id="calendar">
        <ErrorBox error={cal.error} />
        {!cal.error && <p class="muted">{m.loading}</p>}
      </Section>
    );
  const set = (patch: Partial<WorkingCalendar>) => {
    setDraft({ ...draft, ...patch });
    setSaved(false);
  };
  const invalid = (f: string) => problems.some((p) => p.field === f);
  async function save(e: Event) {
    e.preventDefault();
    setError(null);
    setSaved(false);
    const cleaned = { ...draft!, timezone: draft!.timezone.trim() };
    const p = calendarProblems(m, cleaned, zoneOk);
    setProblems(p);
    if (p.length) {
      focusFirstInvalid(formRef.current);
      return;
    }
    // The checks above refuse all the API's schema refuses (test/dashboard-forms.test.ts holds
    // them to domain/calendar.ts); whatever else the hub says is shown in the user's language.
    try {
      await api.put('/api/calendar', cleaned);
      setSaved(true);
      cal.reload();
    } catch (err) {
      setError(err);
    }
  }
  return (
    <Section title={m.calendar} id="calendar">
      <form ref={formRef} onSubmit={save} noValidate class="calendar-form" data-testid="calendar-form">
        <div class="filters">
          <label class="filter" for="cal-zone">
            <span>{m.timezone}</span>
            <input
              id="cal-zone"
              value={draft.timezone}
              aria-invalid={invalid('timezone')}
              aria-describedby="cal-zone-err"
              onInput={(e) => set({ timezone: (e.target as HTMLInputElement).value })}
            />
            <FieldError id="cal-zone-err" problems={problems} field="timezone" />
          </label>
        </div>
        <fieldset class="checks">
          <legend>{m.workWeek}</legend>
          {m.weekdays.map((name, i) => (
            <label key={name} class="check">
              <input
                type="checkbox"
                checked={draft.workdays.includes(i + 1)}
                aria-invalid={invalid('workdays')}
                aria-describedby="cal-workdays-err"
                onChange={(e) =>
                  set({
                    workdays: (e.target as HTMLInputElement).checked
                      ? [...draft.workdays, i + 1].sort((a, b) => a - b)
                      : draft.workdays.filter((d) => d !== i + 1),
                  })
                }
              />{' '}
              {name}
            </label>
          ))}
          <FieldError id="cal-workdays-err" problems={problems} field="workdays" />
        </fieldset>
        <fieldset class="hours">
          <legend>{m.hours}</legend>
          {draft.hours.map((h, i) => (
            <div class="action-row" key={i}>
              <label for={`cal-h${i}-start`}>{m.start}</label>
              <input
                id={`cal-h${i}-start`}
                type="time"
                value={h.start}
                aria-invalid={invalid(`hours.${i}`) || invalid('hours')}
                aria-describedby="cal-hours-err"
                onInput={(e) =>
                  set({
                    hours: draft.hours.map((x, j) =>
                      j === i ? { ...x, start: (e.target as HTMLInputElement).value } : x,
                    ),
                  })
                }
              />
              <label for={`cal-h${i}-end`}>{m.end}</label>
              <input
                id={`cal-h${i}-end`}
                type="time"
                value={h.end}
                aria-invalid={invalid(`hours.${i}`) || invalid('hours')}
                aria-describedby="cal-hours-err"
                onInput={(e) =>
                  set({
                    hours: draft.hours.map((x, j) =>
                      j === i ? { ...x, end: (e.target as HTMLInputElement).value } : x,
                    ),
                  })
                }
              />
              <button
                type="button"
                class="small"
                aria-label={`${m.remove} ${h.start}–${h.end}`}
                onClick={() => set({ hours: draft.hours.filter((_, j) => j !== i) })}
              >
                ×
              </button>
            </div>
          ))}
          <button
            type="button"
            onClick={() => set({ hours: [...draft.hours, { start: '18:00', end: '20:00' }] })}
          >
            {m.addHours}
          </button>
          <FieldError id="cal-hours-err" problems={problems} field="hours" />
        </fieldset>
        <div class="two-col">
          <DateList
            id="cal-holidays"
            label={m.holidays}
            dates={draft.holidays}
            onChange={(d) => set({ holidays: d })}
            problems={problems}
            field="holidays"
          />
          <DateList
            id="cal-extra"
            label={m.workdays}
            dates={draft.extraWorkdays}
            onChange={(d) => set({ extraWorkdays: d })}
            problems={problems}
            field="extraWorkdays"
          />
        </div>
        <ErrorBox error={error} />
        {saved && (
          <p role="status" class="ok-text">
            ✓ {m.saved}
          </p>
        )}
        <button type="submit" class="primary">
          {m.save}
        </button>
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
