export { calendarSchema, type WorkingCalendar } from './calendar.ts';
export { type Catalogue, categorySchema, createCatalogue } from './catalogue.ts';
export { type Category, DEFAULT_CATEGORIES, type TimeLimit, type Urgency } from './categories.ts';
export { KPI_LEVELS, type KpiLevel } from './kpi.ts';
export { PERSON_ID_RE, type UnitBody, unitBody } from './schemas.ts';
export {
  CASE_SORTS,
  type CaseFilter,
  type CaseService,
  type CaseSort,
  createCaseService,
  type SensorAnomaly,
} from './service.ts';
export { CASE_ACTIONS, CASE_STATUSES, type CaseAction, type CaseStatus } from './workflow.ts';
