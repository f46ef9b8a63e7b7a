import {
  type Category,
  calendarSchema,
  DEFAULT_CALENDAR,
  DEFAULT_CATEGORIES,
  type WorkingCalendar,
} from '../domain/index.ts';
import { badRequest, notFound } from '../kernel/index.ts';
import type { Db } from '../store/index.ts';

/**
 * The city's event catalogue and working calendar: data the city edits through the API. Seeded
 * with the defaults at first start, held in memory (every case deadline reads them).
 */
export async function createCatalogue(deps: { db: Db; timezone: string }) {
  const { db } = deps;
  const categories = new Map<string, Category>();
  let calendar: WorkingCalendar = { ...DEFAULT_CALENDAR, timezone: deps.timezone };

  async function load() {
    const rows = await db.query<{ code: string; body: Category }>('SELECT code, body FROM categories');
    if (rows.length === 0) {
      for (const c of DEFAULT_CATEGORIES) await saveCategory(c);
    } else for (const r of rows) categories.set(r.code, r.body);
    const cal = await db.query<{ value: unknown }>(`SELECT value FROM settings WHERE key = 'calendar'`);
    if (cal[0]) calendar = calendarSchema.parse(cal[0].value);
  }

  async function saveCategory(c: Category) {
    await db.query(
      'INSERT INTO categories (code, body) VALUES ($1, $2) ON CONFLICT (code) DO UPDATE SET body = excluded.body',
      [c.code, JSON.stringify(c)],
    );
    categories.set(c.code, c);
    return c;
  }

  async function setCalendar(input: unknown) {
    const parsed = calendarSchema.safeParse(input);
    if (!parsed.success) {
      throw badRequest(parsed.error.issues.map((i) => `body.${i.path.join('.')}: ${i.message}`).join('; '));
    }
    await db.query(
      `INSERT INTO settings (key, value, updated_at) VALUES ('calendar', $1, now())
       ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = now()`,
      [JSON.stringify(parsed.data)],
    );
    calendar = parsed.data;
    return calendar;
  }

  return {
    load,
    categories: {
      list: () => [...categories.values()].sort((a, b) => a.code.localeCompare(b.code)),
      get: (code: string) => categories.get(code),
      require(code: string) {
        const c = categories.get(code);
        if (!c) throw notFound('category', code);
        return c;
      },
      save: saveCategory,
    },
    calendar: () => calendar,
    setCalendar,
  };
}
export type Catalogue = Awaited<ReturnType<typeof createCatalogue>>;
