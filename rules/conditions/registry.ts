/**
 * The table of condition kinds: one entry per kind, each in its own file. What the evaluator does
 * with a condition (compile it, evaluate it, explain it, list its keys and limits) is looked up
 * here, never switched on elsewhere; a new kind is a new file and a row below.
 */
import {
  type Condition,
  type ConditionKind,
  PROFILES,
  type ProfileSpec,
  type Rule,
} from '../../domain/index.ts';
import { absence } from './absence.ts';
import { all, any } from './all-any.ts';
import { dailyCount } from './daily-count.ts';
import { event } from './event.ts';
import { not } from './not.ts';
import { rate } from './rate.ts';
import { reference } from './reference.ts';
import { schedule } from './schedule.ts';
import { sustained } from './sustained.ts';
import { threshold } from './threshold.ts';
import type { ConditionOf, ConditionSpec, Limit, Plan } from './types.ts';
import { window } from './window.ts';

export const CONDITIONS: { readonly [K in ConditionKind]: ConditionSpec<ConditionOf<K>> } = {
  threshold,
  window,
  rate,
  reference,
  absence,
  event,
  schedule,
  sustained,
  dailyCount,
  all,
  any,
  not,
};

function specOf(c: Condition): ConditionSpec | undefined {
  const kind = (c as { kind?: unknown })?.kind;
  return typeof kind === 'string' && Object.hasOwn(CONDITIONS, kind)
    ? (CONDITIONS[kind as ConditionKind] as ConditionSpec)
    : undefined;
}

const unknownKind = (c: Condition) => `unknown condition kind '${(c as { kind?: unknown })?.kind}'`;

/** A rule's plan: the tree of compiled nodes, and a copier of its node states. */
export interface Compiled {
  profile: string;
  root: Plan;
  /** Every node's path, root first. */
  paths: string[];
  /** A new nodes object with the nodes of `paths` taken from the one given. */
  copy: (nodes: Record<string, unknown>) => Record<string, unknown>;
}

/**
 * The copier of a rule's nodes: an object literal with the rule's paths as keys, made once per rule,
 * is several times faster than a spread or keyed stores (the root key '0' is an array index, which
 * puts objects built key by key on V8's slow paths). Plain loop where code generation is disabled.
 */
function copier(paths: string[]): Compiled['copy'] {
  try {
    const body = `return {${paths.map((p) => `${JSON.stringify(p)}: o[${JSON.stringify(p)}]`).join(', ')}};`;
    return new Function('o', body) as Compiled['copy'];
  } catch {
    return (o) => {
      const next: Record<string, unknown> = {};
      for (const path of paths) next[path] = o[path];
      return next;
    };
  }
}

/**
 * Plans by condition object: a rule is compiled once (rules are treated as immutable once
 * evaluated). A memo of a pure function of the condition and profile, dropped with the rule.
 */
const compiled = new WeakMap<Condition, Compiled>();

export function planOf(rule: Rule): Compiled {
  const hit = compiled.get(rule.condition);
  if (hit && hit.profile === rule.appliesTo.profile) return hit;
  const profile = (PROFILES as Record<string, ProfileSpec>)[rule.appliesTo.profile];
  const root = compile(rule, rule.condition, '0', profile);
  const paths: string[] = [];
  const walk = (p: Plan) => {
    paths.push(p.path);
    for (const kid of p.kids) walk(kid);
  };
  walk(root);
  const plan = { profile: rule.appliesTo.profile, root, paths, copy: copier(paths) };
  compiled.set(rule.condition, plan);
  return plan;
}

function compile(rule: Rule, c: Condition, path: string, profile: ProfileSpec | undefined): Plan {
  const spec = specOf(c);
  if (!spec) throw new Error(`rule ${rule.id}: ${unknownKind(c)} at condition path ${path}`);
  const p: Plan = {
    c,
    kind: c.kind,
    spec,
    path,
    kids: [],
    unit: '',
    label: '',
    obsKey: '',
    ms: 0,
    sig: '',
    initial: Object.freeze({ k: c.kind, v: null, ts: null }),
  };
  spec.compile(p, { rule, profile, child: (x, i) => compile(rule, x, `${path}.${i}`, profile) });
  return p;
}

/**
 * Keys the rule reads, to skip rules a message cannot affect. `event` stands for camera
 * detections; `*` means every message matters (an absence condition is cleared by any reading).
 * Schedules and reference devices add no key of this device.
 */
export function usesKeys(rule: Rule): Set<string> {
  const keys = new Set<string>();
  const add = (key: string) => {
    keys.add(key);
  };
  const walk = (c: Condition): void => {
    const spec = specOf(c);
    if (!spec) throw new Error(unknownKind(c));
    spec.keys(c, add, walk);
  };
  walk(rule.condition);
  return keys;
}

/** True when the rule has conditions that `tick` can change (absence, event clearAfter). */
export function needsTick(rule: Rule): boolean {
  const walk = (c: Condition): boolean => specOf(c)?.ticks(c, walk) ?? false;
  return walk(rule.condition);
}

/**
 * The numeric limits of a rule's threshold and window conditions for one device (attributes
 * resolved), outside any `not`: the case keeps them as evidence so the dashboard can draw the limit
 * on the trend for users who may not read rules (units, inspectors).
 */
export function limitsOf(rule: Rule, attributes: Record<string, unknown>): Limit[] {
  const out: Limit[] = [];
  const walk = (c: Condition): void => specOf(c)?.limits(c, attributes, out, walk);
  walk(rule.condition);
  return out;
}
