/**
 * The words of the domain, one home each (issue 10): roles, case statuses and actions, urgency and
 * the event catalogue, grid and area codes, device profiles, KPI levels and figures, evidence media,
 * the working calendar and time zones, the rule grammar, and the views the API answers. Zod schemas with their `z.infer` types and small pure
 * helpers; nothing here imports `node:*`, pino or a part (only zod and `kernel/portable.ts`), so the
 * dashboard's bundle (web/ui) imports this very module and validates with the schemas the API uses.
 * Top-level schemas are marked `@__PURE__` (building one has no side effect) so the bundler drops
 * those a page does not use, and zod with them (web/ui/vite.config.ts).
 */
export {
  addWorkingTime,
  calendarSchema,
  calendarViewSchema,
  DEFAULT_CALENDAR,
  DEFAULT_HOURS,
  DEFAULT_TIMEZONE,
  deadlineFor,
  isWorkingTime,
  MAX_EMPTY_DAYS,
  MAX_SCAN_DAYS,
  NoWorkingTimeError,
  type WorkingCalendar,
  type WorkingHours,
  workingDayMs,
  workingMsBetween,
} from './calendar.ts';
export {
  type CaseActionBody,
  caseActionBody,
  type LngLat,
  lngLatSchema,
  type NewCaseBody,
  newCaseBody,
} from './case-bodies.ts';
export {
  CASE_ACTIONS,
  CASE_SOURCES,
  CASE_STATUSES,
  type CaseAction,
  type CaseSource,
  type CaseStatus,
  caseActionSchema,
  caseStatusSchema,
  ESCALATION_LEVELS,
  type EscalationLevel,
  escalationLevelSchema,
  TERMINAL_STATUSES,
} from './case-words.ts';
export {
  CATEGORY_CODE_RE,
  type Category,
  categoryCodeSchema,
  categorySchema,
  TIME_LIMIT_UNITS,
  type TimeLimit,
  timeLimitSchema,
  URGENCIES,
  type Urgency,
  urgencySchema,
} from './categories.ts';
export { DEFAULT_CATEGORIES } from './default-categories.ts';
export {
  attributesSchema,
  type CameraView,
  cameraViewSchema,
  type DeviceDetail,
  type DeviceView,
  deviceDetailSchema,
  deviceViewSchema,
  type PresencePeriod,
  type PresenceView,
  pointSchema,
  presencePeriodSchema,
  presenceViewSchema,
  type SeriesView,
  STREAM_STATES,
  seriesViewSchema,
} from './device-views.ts';
export {
  AREA_CODE_RE,
  ancestorCode,
  areaCodeSchema,
  GRID_CODE_RE,
  type GridLevel,
  gridCodeSchema,
  hierarchy,
  isGridCode,
  LEVEL_LENGTH,
  levelOf,
} from './grid-code.ts';
export {
  type AreaGeometry,
  areaGeometrySchema,
  type GridDetail,
  type GridFeatures,
  type GridNode,
  gridDetailSchema,
  gridFeaturesSchema,
  gridNodeSchema,
} from './grid-views.ts';
export {
  KPI_FIELDS,
  KPI_LEVELS,
  type KpiCounts,
  type KpiField,
  type KpiItem,
  type KpiLevel,
  type KpiReport,
  kpiCountsSchema,
  kpiItemSchema,
  kpiLevelSchema,
  kpiReportSchema,
} from './kpi.ts';
export {
  MEDIA_ID_RE,
  MEDIA_MAX_BYTES_DEFAULT,
  MEDIA_TYPES,
  type MediaType,
  mediaIdSchema,
  sniffImageType,
} from './media.ts';
export {
  CAMERA_EVENT_TYPES,
  isProfileName,
  type KeySpec,
  PROFILE_NAMES,
  PROFILES,
  type ProfileName,
  type ProfileSpec,
} from './profiles.ts';
export { ACTOR_ROLES, type ActorRole, ROLES, type Role, RULE_READER_ROLES, roleSchema } from './roles.ts';
export {
  type CameraEventType,
  type Comparison,
  type Condition,
  type ConditionInput,
  type ConditionKind,
  durationMs,
  type RateCondition,
  type ReferenceCondition,
  type Rule,
  type RuleDraft,
  ruleBodySchema,
  ruleSchema,
  type ScheduleCondition,
  type ValueRef,
  validateRule,
  type WindowCondition,
} from './rule-grammar.ts';
export { type BacktestView, backtestViewSchema, type RuleView, ruleViewSchema } from './rule-views.ts';
export { isIanaZone, timeZoneSchema } from './time-zone.ts';
export { PERSON_ID_RE, type UnitBody, unitBody } from './units.ts';
export {
  type CaseDetail,
  type CaseSummary,
  type CaseView,
  caseDetailSchema,
  caseEvidenceSchema,
  caseSummarySchema,
  caseViewSchema,
  type LoginAnswer,
  loginAnswerSchema,
  type MeView,
  meSchema,
  type Page,
  pageSchema,
  type ReferenceView,
  referenceViewSchema,
  type TimelineEntryView,
  timelineEntryViewSchema,
  type UnitView,
  type UserView,
  unitViewSchema,
  userViewSchema,
} from './views.ts';
