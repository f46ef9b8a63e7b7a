/**
 * The shapes every condition kind shares: its compiled plan, the walk over one evaluation, a node's
 * result, the stored state of a leaf, and the entry a kind has in the table (`registry.ts`).
 *
 * The evaluator is pure: a kind's `evaluate` reads the previous state from `w.prev`, writes its new
 * state into `w.next` (never into a state it was given, unless the walk owns it: `Walk.own`, then
 * `next` is `prev` and a node may update its own stored object, `owned`) and returns its `Result`;
 * sentences and observations are written from the stored facts only when someone reads them
 * (`explain`, `observe`). A node reads its own stored state, and a composite its child's, before
 * it writes its own.
 */
import type { Condition, ConditionKind, ProfileSpec, Rule } from '../../domain/index.ts';

/** Three-valued truth: `null` = not known yet (no reading of the condition's key so far). */
export type Truth = boolean | null;
/** Observed values of a decision, e.g. `{ pm10_avg_15m: 96.4 }`. */
export type Obs = Record<string, number>;

/** The condition of one kind. */
export type ConditionOf<K extends ConditionKind> = Extract<Condition, { kind: K }>;

/** One message's readings at one timestamp (event time). */
export interface RuleInput {
  ts: number;
  values: Record<string, number>;
  events: { type: string; confidence: number; snapshot: string | null }[];
  /** Hub time at which the message arrived (absence is counted on hub time). Defaults to `ts`. */
  receivedAt?: number;
}

export interface RuleContext {
  /** IANA zone of the city (day/night schedules, calendar days). */
  timezone: string;
  /** The device's server and shared attributes (never what the device reports about itself). */
  attributes: Record<string, unknown>;
  /** Latest value of another device's key (the reference/background station). */
  reference(deviceId: string, key: string): { ts: number; value: number } | undefined;
}

/**
 * Stored state of a leaf node: truth, the event time it last evaluated, and the facts of its last
 * decision, from which its sentence and observations are written when read (`o` names the
 * sentence; states written before facts existed carry the sentence as `text` and the observations
 * as `obs`). Each kind extends it with its own facts; all of them are optional, because a state
 * read back from JSON may come from an older version (it is checked where it is used).
 */
export interface LeafState<K extends ConditionKind = ConditionKind> {
  k: K;
  v: Truth;
  ts: number | null;
  o?: string;
  text?: string;
  obs?: Obs;
}

/** One condition node, with everything that depends only on the rule (worked out once). */
export interface Plan<C extends Condition = Condition> {
  c: C;
  kind: ConditionKind;
  /** The entry of the node's kind in the table. */
  spec: ConditionSpec<C>;
  /** Root "0", its children "0.0", "0.1", … (the key of its state in `RuleState.nodes`). */
  path: string;
  kids: Plan[];
  /** ' µg/m³', '°' or '' (the key's unit in the rule's profile). */
  unit: string;
  /** window: 'pm10 15-minute average'; event: 'street vending'; schedule: '22:00–06:00 on Fri'. */
  label: string;
  /** The `observed` key: 'pm10_avg_15m', 'temperature_rate_per_min', 'smoke_fire_confidence'. */
  obsKey: string;
  /** window span, absence limit, event clearAfter, sustained `for`, rate minimum gap (ms). */
  ms: number;
  /** Windows with the same key, span and aggregate share their samples within a message. */
  sig: string;
  /** A leaf's state before its first decision (shared, never modified). */
  initial: LeafState;
}

/** What a walk is evaluating: one message's readings, or the hub clock. */
export type Env =
  | {
      mode: 'input';
      time: number;
      values: Record<string, unknown>;
      events: RuleInput['events'];
      arrival: number;
      /** The caller's input object: rules evaluated on the same message share their windows. */
      input: RuleInput;
    }
  | { mode: 'tick'; time: number };

/** One evaluation of one rule: what it reads and where the new node states go. */
export interface Walk {
  ctx: RuleContext;
  env: Env;
  prev: Record<string, unknown>;
  next: Record<string, unknown>;
  snapshots: string[];
  /**
   * The caller owns the state (`evaluate(…, own)`): `next` is `prev`, and a kind may update its
   * stored node in place (`owned`) instead of making a new one. Never the shared initial state.
   */
  own: boolean;
}

/**
 * A node's outcome, and what its sentence is written from when read: a leaf's state, a
 * composite's children and counts. One object of one shape per node and evaluation.
 */
export interface Result {
  v: Truth;
  /** The node decided on new evidence in this evaluation (sustained only counts time on it). */
  fresh: boolean;
  p: Plan;
  /** Leaf: its state (never modified once made). */
  s: LeafState | null;
  /** Leaf: the zone its times are shown in. */
  tz: string;
  /** sustained, dailyCount, not: the child. */
  kid: Result | null;
  /** all, any: the children. */
  kids: Result[] | null;
  /** sustained: time held (−1: the child's sentence as it is); dailyCount: openings today. */
  n: number;
  /** dailyCount: the day counted. */
  day: string;
}

/** A numeric limit of a rule for one device (attributes resolved), kept on the case as evidence. */
export interface Limit {
  key: string;
  op: string;
  value: number;
  agg?: string;
  window?: string;
}

/** What compiling a node may use: the rule, its profile, and how to compile a child. */
export interface CompileEnv {
  rule: Rule;
  profile: ProfileSpec | undefined;
  child(c: Condition, index: number): Plan;
}

/**
 * The entry of one condition kind in the table: everything the evaluator knows about the kind lives
 * in the kind's own file. (Validation is the zod schema in `schema.ts`, one schema per kind.)
 */
export interface ConditionSpec<C extends Condition = Condition> {
  kind: ConditionKind;
  /** Fills the plan's rule-only fields (unit, label, ms, children). */
  compile(p: Plan<C>, env: CompileEnv): void;
  /** Decides the node for the walk's input or tick; writes its next state into `w.next`. */
  evaluate(p: Plan<C>, w: Walk): Result;
  /** The sentence of a node's result (`Evaluation.explanation`). */
  explain(r: Result): string;
  /** The values a node's result observed (`Evaluation.observed`). */
  observe(r: Result): Obs;
  /** The keys of this device the condition reads ('event': detections, '*': every message). */
  keys(c: C, add: (key: string) => void, walk: (c: Condition) => void): void;
  /** True when `tick` (hub time) can change the condition. */
  ticks(c: C, walk: (c: Condition) => boolean): boolean;
  /** Numeric limits the condition contributes to a case's evidence (outside any `not`). */
  limits(c: C, attributes: Record<string, unknown>, out: Limit[], walk: (c: Condition) => void): void;
}
