/** Administration: the working calendar editor (time zone, weekdays, hours, holidays, make-up days). */
import { useEffect, useRef, useState } from 'preact/hooks';
import { isIanaZone } from '../../../../domain/index.ts';
import { api } from '../api.ts';
import { type AppState, useApp, useData } from '../app.tsx';
import { FieldError, focusFirstInvalid } from '../components/field-error.tsx';
import { ErrorBox, Section } from '../components/ui.tsx';
import { calendarProblems, type Problem } from '../forms.ts';

const zoneOk = (zone: string) => zone.length > 0 && isIanaZone(zone);

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

export function Calendar() {
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
