/**
 * The rules engine's SQL: rules and their versions, the persisted rule state, and the stored
 * telemetry a backtest replays. Tables: `rules`, `rule_versions`, `rule_state` (store/ migrations),
 * `telemetry` and `device_events`.
 */

import type { Rule } from '../domain/index.ts';
import type { Db, Prepared } from '../store/index.ts';

/** The rule states' upsert (versions are small integers, sent as float8 and cast). */
const SAVE_STATES: Prepared = {
  name: 'gridhub_rule_states',
  sql: `INSERT INTO rule_state (rule_id, device_id, rule_version, state, updated_at)
        SELECT r, d, v::int, s::jsonb, now() FROM unnest($1::text[], $2::text[], $3::float8[], $4::text[]) AS u(r, d, v, s)
        ON CONFLICT (rule_id, device_id) DO UPDATE SET rule_version = excluded.rule_version, state = excluded.state, updated_at = now()`,
  types: ['text[]', 'text[]', 'float8[]', 'text[]'],
};

export interface RuleRow {
  id: string;
  version: number;
  body: unknown;
  enabled: boolean;
  disabled_reason: string | null;
  builtin: boolean;
}

export interface StateRow {
  rule_id: string;
  device_id: string;
  rule_version: number;
  state: unknown;
}

export interface StateToSave {
  ruleId: string;
  deviceId: string;
  version: number;
  /** The state as JSON text. */
  state: string;
}

export type RulesRepo = ReturnType<typeof createRulesRepo>;

export function createRulesRepo(db: Db) {
  // State saves are background writes: on the embedded store no API read waits behind one.
  const background = db.background ?? db;
  return {
    async countRules(): Promise<number> {
      const count = await db.query<{ n: number | string }>('SELECT count(*) AS n FROM rules');
      return Number(count[0]?.n ?? 0);
    },

    listRules: () =>
      db.query<RuleRow>('SELECT id, version, body, enabled, disabled_reason, builtin FROM rules'),

    /**
     * Saves a rule as its next version (and keeps the version's body). A changed rule starts from
     * fresh state: windows and timers of the old version mean nothing, so its saved states go.
     */
    async writeRule(rule: Rule, builtin: boolean): Promise<number> {
      return db.transaction(async (tx) => {
        const prev = await tx.query<{ version: number }>('SELECT version FROM rules WHERE id = $1', [
          rule.id,
        ]);
        const version = Number(prev[0]?.version ?? 0) + 1;
        await tx.query(
          `INSERT INTO rules (id, version, body, enabled, disabled_reason, builtin, updated_at) VALUES ($1, $2, $3, $4, NULL, $5, now())
           ON CONFLICT (id) DO UPDATE SET version = excluded.version, body = excluded.body, enabled = excluded.enabled,
             disabled_reason = NULL, updated_at = now()`,
          [rule.id, version, JSON.stringify(rule), rule.enabled, builtin],
        );
        await tx.query('INSERT INTO rule_versions (rule_id, version, body) VALUES ($1, $2, $3)', [
          rule.id,
          version,
          JSON.stringify(rule),
        ]);
        await tx.query('DELETE FROM rule_state WHERE rule_id = $1', [rule.id]);
        return version;
      });
    },

    /** Deletes a rule and its saved states (its versions stay, as history). */
    async deleteRule(id: string): Promise<void> {
      await db.query('DELETE FROM rules WHERE id = $1', [id]);
      await db.query('DELETE FROM rule_state WHERE rule_id = $1', [id]);
    },

    async setDisabledReason(id: string, reason: string): Promise<void> {
      await db.query('UPDATE rules SET disabled_reason = $2 WHERE id = $1', [id, reason]);
    },

    listStates: () => db.query<StateRow>('SELECT rule_id, device_id, rule_version, state FROM rule_state'),

    /**
     * Upserts states in one prepared statement, parameters in binary (issue 13: as text arrays,
     * every quote of every state's JSON was escaped on the hub's thread, a few thousand states every
     * few seconds under load).
     */
    async saveStates(rows: StateToSave[]): Promise<void> {
      if (rows.length === 0) return;
      await background.run(SAVE_STATES, [
        rows.map((r) => r.ruleId),
        rows.map((r) => r.deviceId),
        rows.map((r) => r.version),
        rows.map((r) => r.state),
      ]);
    },

    /**
     * The newest readings (at most `limit` each) of `key` after each device's own time, for filling
     * windows at start: one statement for many devices, each an index range scan of the primary key.
     */
    recentReadings: (key: string, deviceIds: string[], after: number[], limit: number) =>
      db.query<{ device_id: string; ts: Date; value: number }>(
        `SELECT u.d AS device_id, r.ts, r.value
           FROM unnest($1::text[], $2::double precision[]) AS u(d, a)
           CROSS JOIN LATERAL (
             SELECT ts, value FROM telemetry
              WHERE device_id = u.d AND key = $3 AND ts > to_timestamp(u.a / 1000.0)
              ORDER BY ts DESC LIMIT $4) AS r`,
        [deviceIds, after, key, limit],
      ),

    /** A device's numeric readings of `keys` in [from, to), oldest first, at most `limit`. */
    telemetry: (deviceId: string, keys: string[], from: number, to: number, limit: number) =>
      db.query<{ ts: Date; key: string; value: number }>(
        `SELECT ts, key, value FROM telemetry WHERE device_id = $1 AND key = ANY($2::text[]) AND ts >= $3 AND ts < $4
          ORDER BY ts LIMIT $5`,
        [deviceId, keys, new Date(from), new Date(to), limit],
      ),

    /** A device's detection events in [from, to), oldest first, at most `limit`. */
    events: (deviceId: string, from: number, to: number, limit: number) =>
      db.query<{ ts: Date; type: string; confidence: number; snapshot: string | null }>(
        'SELECT ts, type, confidence, snapshot FROM device_events WHERE device_id = $1 AND ts >= $2 AND ts < $3 ORDER BY ts LIMIT $4',
        [deviceId, new Date(from), new Date(to), limit],
      ),
  };
}
