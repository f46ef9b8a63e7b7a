/**
 * KPIs (绩效评价, contract.md "KPIs"): the levels they are grouped by and the figures of one group.
 * How each figure is counted is the cases part's (cases/kpi.ts); the names and shapes are shared
 * with the API's responses, the dashboard and the scenario checks.
 */
import { z } from 'zod';
import type { GridLevel } from './grid-code.ts';

export const KPI_LEVELS = ['grid', 'community', 'street', 'district', 'unit'] as const;
export type KpiLevel = GridLevel | 'unit';
export const kpiLevelSchema = /* @__PURE__ */ z.enum(KPI_LEVELS);

/** A rate: null when its denominator is 0. */
const rate = /* @__PURE__ */ z.number().nullable();

export const kpiCountsSchema = /* @__PURE__ */ z.object({
  registered: z.number(),
  due: z.number(),
  closed: z.number(),
  onTime: z.number(),
  /** 结案率 = closed / due. */
  closedRate: rate,
  /** 按期结案率 = onTime / due. */
  onTimeRate: rate,
  rework: z.number(),
  dispatched: z.number(),
  handled: z.number(),
  /** 处置率 = handled / dispatched. */
  disposalRate: rate,
  meanTimeToCloseHours: z.number().nullable(),
  urgentDue: z.number(),
  urgentOnTime: z.number(),
});
export type KpiCounts = z.infer<typeof kpiCountsSchema>;

/** The figures' names, in the order the API lists them. */
export const KPI_FIELDS = /* @__PURE__ */ kpiCountsSchema.keyof().options;
export type KpiField = keyof KpiCounts;

export const kpiItemSchema = /* @__PURE__ */ kpiCountsSchema.extend({
  /** The area code at `level`, or the unit id (`null`: not assigned to a unit). */
  key: z.string().nullable(),
});
export type KpiItem = z.infer<typeof kpiItemSchema>;

export const kpiReportSchema = /* @__PURE__ */ z.object({
  from: z.number(),
  to: z.number(),
  level: kpiLevelSchema,
  items: z.array(kpiItemSchema),
  total: kpiCountsSchema,
});
export type KpiReport = z.infer<typeof kpiReportSchema>;
