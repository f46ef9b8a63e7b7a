/** The parsed, validated form of a scenario file (see scenarios/README.md for the language). */
import type {
  CaseAction,
  CaseStatus,
  EscalationLevel,
  KpiField,
  KpiLevel,
  LngLat,
  Role,
  Urgency,
} from '../../domain/index.ts';

/** Where something is: a unit grid (its centroid), a demo construction site, or a point. */
export type Placement = { grid: string } | { site: string } | { location: LngLat };

export interface UnitSpec {
  name: string;
  categories: string[];
  grids: string[];
}

export interface UserSpec {
  name: string;
  role: Role;
  unit: string | null;
  grids: string[];
}

export interface DeviceSpec {
  id: string;
  name: string | null;
  profile: string;
  placement: Placement | null;
  gateway: boolean;
  /** The gateway this device reports through (its child). */
  via: string | null;
  /** Reporting period (ms); 0 for a gateway, which reports only for its children. */
  every: number;
  baseline: Record<string, number>;
  /** Background readings from the physics models of simulators/models.ts. */
  model: boolean;
  /** Uniform noise ± this much, per key (deterministic for the scenario's seed). */
  jitter: Record<string, number>;
  attributes: Record<string, unknown>;
  line: number;
}

/** Which case(s) an action or expectation is about. */
export type CaseRef =
  | { kind: 'sensor'; device: string; rule: string }
  | { kind: 'report'; label: string }
  | { kind: 'area'; category: string; grid: string };

export type PersonAction = Exclude<CaseAction, 'relapse'>;

export interface StepBase {
  /** Offset from the start (ms). */
  at: number;
  /** Index in the file's `steps` list and its line. */
  index: number;
  line: number;
}

export type Step = StepBase &
  (
    | { kind: 'ramp'; device: string; key: string; to: number; over: number }
    | { kind: 'episode'; device: string; values: Record<string, number>; for: number }
    | { kind: 'set'; device: string; values: Record<string, number> }
    | { kind: 'silence'; device: string; for: number | null }
    | { kind: 'resume'; device: string }
    | { kind: 'event'; device: string; type: string; confidence: number; snapshot: string | null }
    | {
        kind: 'action';
        action: PersonAction;
        case: CaseRef;
        by: string;
        assignee: string | null;
        note: string | null;
        /** The hub must refuse it with this HTTP status (403, 409, 400). */
        refused: number | null;
      }
    | {
        kind: 'report';
        label: string;
        by: string;
        category: string;
        placement: Placement;
        description: string;
        urgency: Urgency | null;
        photos: string[];
      }
    | { kind: 'check'; expect: Expectation[] }
  );

export interface CaseChecks {
  count?: number;
  status?: CaseStatus;
  category?: string;
  grid?: string;
  urgency?: Urgency;
  occurrences?: number;
  escalationLevel?: EscalationLevel;
  assignee?: string | null;
  overdue?: boolean;
  verifiedBy?: string;
  relapsed?: boolean;
  reworks?: number;
  escalatedTo?: EscalationLevel[];
  timeline?: string[];
  openedAt?: number;
  deadline?: number | null;
  closedAt?: number | null;
  explanation?: string;
}

export type Expectation =
  | ({ kind: 'case'; ref: CaseRef; line: number; path: string } & CaseChecks)
  | { kind: 'noCase'; ref: CaseRef; line: number; path: string }
  | {
      kind: 'kpi';
      level: KpiLevel;
      key: string | null;
      from: number;
      to: number;
      values: Partial<Record<KpiField, number | null>>;
      line: number;
      path: string;
    };

export interface Scenario {
  /** The file as given (for messages), or `<inline>`. */
  file: string;
  name: string;
  description: string;
  /** Epoch ms of the start, and the text as written. */
  start: number;
  startText: string;
  seed: number;
  grids: 'demo' | null;
  /** Resolution of the walk through time (ms). */
  tick: number;
  duration: number;
  units: Record<string, UnitSpec>;
  users: Record<string, UserSpec>;
  devices: Record<string, DeviceSpec>;
  /** Sorted by `at` (file order within the same time). */
  steps: Step[];
  expect: Expectation[];
}
