import type { Dialect } from './db.ts';

/**
 * Versioned migrations, applied in order at start inside one transaction each. A migration never
 * changes once released; a change is a new version. Dialect-specific parts (hypertables,
 * continuous aggregates) are chosen by the dialect the store was created with.
 */
export interface Migration {
  version: number;
  name: string;
  sql(dialect: Dialect): string;
  /** TimescaleDB refuses some DDL (continuous aggregates) inside a transaction block. */
  transactional?: boolean;
}

export const migrations: Migration[] = [
  {
    version: 1,
    name: 'registry',
    sql: () => `
      CREATE TABLE grids (
        code text PRIMARY KEY CHECK (code ~ '^[0-9]{15}$'),
        name text,
        geometry jsonb NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
      );
      -- District, street and community are the code's prefixes (6, 9, 12 digits); only their
      -- names are stored.
      CREATE TABLE grid_areas (
        code text PRIMARY KEY CHECK (code ~ '^[0-9]{6}([0-9]{3}){0,2}$'),
        name text NOT NULL
      );
      CREATE TABLE devices (
        id text PRIMARY KEY,
        name text NOT NULL,
        profile text NOT NULL,
        lng double precision,
        lat double precision,
        grid_code text,
        grid_override boolean NOT NULL DEFAULT false,
        gateway boolean NOT NULL DEFAULT false,
        parent_id text REFERENCES devices(id) ON DELETE CASCADE,
        token_hash text UNIQUE,
        server_attributes jsonb NOT NULL DEFAULT '{}',
        shared_attributes jsonb NOT NULL DEFAULT '{}',
        client_attributes jsonb NOT NULL DEFAULT '{}',
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX devices_grid ON devices (grid_code);
      CREATE INDEX devices_parent ON devices (parent_id);
    `,
  },
  {
    version: 2,
    name: 'telemetry',
    sql: (dialect) => `
      CREATE TABLE telemetry (
        ts timestamptz NOT NULL,
        device_id text NOT NULL,
        key text NOT NULL,
        value double precision NOT NULL,
        -- Writes are idempotent: a redelivered reading (QoS 1 retry, replay) is stored once.
        PRIMARY KEY (device_id, key, ts)
      );
      ${
        dialect === 'timescale'
          ? `SELECT create_hypertable('telemetry', by_range('ts', INTERVAL '1 day'), if_not_exists => true, migrate_data => true);`
          : ''
      }
      -- Values of generic devices that are not numbers (strings, booleans, JSON objects).
      CREATE TABLE telemetry_values (
        ts timestamptz NOT NULL,
        device_id text NOT NULL,
        key text NOT NULL,
        value jsonb NOT NULL,
        PRIMARY KEY (device_id, key, ts)
      );
      -- Camera detections are events, not numbers.
      CREATE TABLE device_events (
        ts timestamptz NOT NULL,
        device_id text NOT NULL,
        type text NOT NULL,
        confidence double precision,
        snapshot text,
        data jsonb NOT NULL DEFAULT '{}',
        PRIMARY KEY (device_id, type, ts)
      );
      CREATE INDEX device_events_ts ON device_events (ts);
      CREATE TABLE telemetry_latest (
        device_id text NOT NULL,
        key text NOT NULL,
        ts timestamptz NOT NULL,
        value double precision,
        value_json jsonb,
        PRIMARY KEY (device_id, key)
      );
      CREATE TABLE rejected_messages (
        id bigserial PRIMARY KEY,
        received_at timestamptz NOT NULL,
        device_id text,
        client_id text,
        topic text NOT NULL,
        code text NOT NULL,
        reason text NOT NULL,
        payload text
      );
      CREATE INDEX rejected_messages_time ON rejected_messages (received_at);
      CREATE INDEX rejected_messages_device ON rejected_messages (device_id, received_at);
    `,
  },
  {
    version: 3,
    name: 'telemetry rollups',
    transactional: false,
    sql: (dialect) =>
      dialect === 'timescale'
        ? `
      CREATE MATERIALIZED VIEW IF NOT EXISTS telemetry_1m
        WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
        SELECT time_bucket(INTERVAL '1 minute', ts) AS bucket, device_id, key,
               min(value) AS min, max(value) AS max, sum(value) AS sum, count(*) AS count,
               last(value, ts) AS last
          FROM telemetry GROUP BY 1, 2, 3 WITH NO DATA;
      CREATE MATERIALIZED VIEW IF NOT EXISTS telemetry_1h
        WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
        SELECT time_bucket(INTERVAL '1 hour', ts) AS bucket, device_id, key,
               min(value) AS min, max(value) AS max, sum(value) AS sum, count(*) AS count,
               last(value, ts) AS last
          FROM telemetry GROUP BY 1, 2, 3 WITH NO DATA;
    `
        : // Plain PostgreSQL has no incremental rollups; bucketed series use date_bin over the
          // primary key range scan.
          `SELECT 1;`,
  },
  {
    version: 4,
    name: 'people, rules and cases',
    sql: () => `
      CREATE TABLE settings (key text PRIMARY KEY, value jsonb NOT NULL, updated_at timestamptz NOT NULL DEFAULT now());
      CREATE TABLE categories (
        code text PRIMARY KEY CHECK (code ~ '^[0-9]{4}$'),
        body jsonb NOT NULL
      );
      -- Responsible units (责任单位) with the categories they handle, for dispatch suggestions.
      CREATE TABLE units (
        id text PRIMARY KEY,
        name text NOT NULL,
        categories text[] NOT NULL DEFAULT '{}',
        grid_codes text[] NOT NULL DEFAULT '{}'
      );
      CREATE TABLE users (
        id text PRIMARY KEY,
        name text NOT NULL,
        role text NOT NULL CHECK (role IN ('admin', 'operator', 'dispatcher', 'unit', 'inspector', 'viewer')),
        unit_id text REFERENCES units(id) ON DELETE SET NULL,
        grid_codes text[] NOT NULL DEFAULT '{}',
        password_hash text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE TABLE user_tokens (
        token_hash text PRIMARY KEY,
        user_id text NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        expires_at timestamptz NOT NULL
      );
      CREATE TABLE rules (
        id text PRIMARY KEY,
        version integer NOT NULL,
        body jsonb NOT NULL,
        enabled boolean NOT NULL DEFAULT true,
        disabled_reason text,
        builtin boolean NOT NULL DEFAULT false,
        updated_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE TABLE rule_versions (
        rule_id text NOT NULL,
        version integer NOT NULL,
        body jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (rule_id, version)
      );
      -- What a rule needs to continue after a restart: windows, timers, counters, per device.
      CREATE TABLE rule_state (
        rule_id text NOT NULL,
        device_id text NOT NULL,
        rule_version integer NOT NULL,
        state jsonb NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (rule_id, device_id)
      );
      CREATE TABLE cases (
        id text PRIMARY KEY,
        source text NOT NULL CHECK (source IN ('sensor', 'report')),
        status text NOT NULL,
        category text NOT NULL,
        grid_code text,
        urgency text NOT NULL,
        device_id text,
        rule_id text,
        description text,
        lng double precision,
        lat double precision,
        photos jsonb NOT NULL DEFAULT '[]',
        opened_at timestamptz NOT NULL,
        deadline timestamptz,
        closed_at timestamptz,
        assignee text,
        escalation_level text NOT NULL DEFAULT 'grid',
        occurrences integer NOT NULL DEFAULT 1,
        last_seen_at timestamptz NOT NULL,
        peak jsonb,
        evidence jsonb NOT NULL DEFAULT '{}',
        state jsonb NOT NULL,
        -- Sensor bookkeeping: when the condition last cleared (for verification) and relapse window.
        cleared_at timestamptz,
        updated_at timestamptz NOT NULL DEFAULT now()
      );
      -- One open case per device and rule: repeats add occurrences instead of new cases.
      CREATE UNIQUE INDEX cases_one_open_per_device_rule ON cases (device_id, rule_id)
        WHERE source = 'sensor' AND status NOT IN ('closed', 'rejected');
      CREATE INDEX cases_status ON cases (status);
      CREATE INDEX cases_grid ON cases (grid_code);
      CREATE INDEX cases_deadline ON cases (deadline);
      CREATE INDEX cases_opened ON cases (opened_at);
      CREATE TABLE case_events (
        case_id text NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
        seq integer NOT NULL,
        at timestamptz NOT NULL,
        action text NOT NULL,
        from_status text,
        to_status text NOT NULL,
        actor text NOT NULL,
        role text NOT NULL,
        note text,
        data jsonb NOT NULL DEFAULT '{}',
        PRIMARY KEY (case_id, seq)
      );
      CREATE INDEX case_events_at ON case_events (at);
    `,
  },
  {
    version: 5,
    name: 'sessions and audit log',
    sql: () => `
      -- Sessions end after an idle period as well as an absolute lifetime (issue 7).
      ALTER TABLE user_tokens ADD COLUMN created_at timestamptz;
      ALTER TABLE user_tokens ADD COLUMN last_used_at timestamptz;
      CREATE INDEX user_tokens_user ON user_tokens (user_id);
      CREATE INDEX user_tokens_expiry ON user_tokens (expires_at);
      -- Every change made through the API: who, from where, what, and how it ended.
      CREATE TABLE audit_log (
        id bigserial PRIMARY KEY,
        at timestamptz NOT NULL,
        actor text NOT NULL,
        role text NOT NULL,
        via text,
        address text,
        action text NOT NULL,
        method text NOT NULL,
        route text NOT NULL,
        target text,
        status integer NOT NULL,
        outcome text NOT NULL,
        detail jsonb NOT NULL DEFAULT '{}'
      );
      CREATE INDEX audit_log_at ON audit_log (at);
      CREATE INDEX audit_log_actor ON audit_log (actor, at);
    `,
  },
  {
    // Numbered apart from the other parts' migrations (issue 8) so parallel branches never collide.
    version: 801,
    name: 'bounded rejected store, retention indexes',
    sql: (dialect) => `
      -- Under a flood the rejected store keeps a sample: a kept row counts the similar rejections
      -- (same device and reason) that were only counted since the previous kept one.
      ALTER TABLE rejected_messages ADD COLUMN IF NOT EXISTS suppressed integer NOT NULL DEFAULT 0;
      -- Retention deletes the oldest rows in bounded chunks; it needs them by time.
      CREATE INDEX IF NOT EXISTS telemetry_values_ts ON telemetry_values (ts);
      ${dialect === 'postgres' ? 'CREATE INDEX IF NOT EXISTS telemetry_ts ON telemetry (ts);' : ''}
    `,
  },
  {
    // Issue 10 (cases): numbered apart like 801 so parallel branches never collide.
    version: 1010,
    name: 'sensor cases keep their rule windows',
    sql: () => `
      -- A sensor case keeps the verification and relapse windows of the rule that opened it (the
      -- anomaly carries them), so the case service never asks the rules engine.
      ALTER TABLE cases ADD COLUMN IF NOT EXISTS verify_after_ms bigint;
      ALTER TABLE cases ADD COLUMN IF NOT EXISTS relapse_window_ms bigint;
      -- Cases stored before: their rule's windows as the rule reads now (rules/schema.ts durations,
      -- 30s 15m 2h 1d 1w). A case whose rule is gone keeps NULL, read as the rule defaults.
      WITH parsed AS (
        SELECT id,
               regexp_match(btrim(body->>'verifyAfter'), '^([0-9]+(?:[.][0-9]+)?)(ms|s|m|h|d|w)$') AS v,
               regexp_match(btrim(body->>'relapseWindow'), '^([0-9]+(?:[.][0-9]+)?)(ms|s|m|h|d|w)$') AS r
          FROM rules),
      unit (u, ms) AS (VALUES ('ms', 1), ('s', 1000), ('m', 60000), ('h', 3600000), ('d', 86400000), ('w', 604800000))
      UPDATE cases c
         SET verify_after_ms = round(p.v[1]::float8 * uv.ms),
             relapse_window_ms = round(p.r[1]::float8 * ur.ms)
        FROM parsed p, unit uv, unit ur
       WHERE c.source = 'sensor' AND c.rule_id = p.id AND c.verify_after_ms IS NULL
         AND uv.u = p.v[2] AND ur.u = p.r[2];
    `,
  },
  {
    // Numbered apart from the other parts' migrations (issue 11) so parallel branches never collide.
    version: 1101,
    name: 'device online history',
    sql: () => `
      -- Every connect and disconnect the registry sees (store/presence.ts): the device page's
      -- online history. Kept as long as camera events (eventsRetentionDays).
      CREATE TABLE IF NOT EXISTS device_presence (
        device_id text NOT NULL,
        ts timestamptz NOT NULL,
        online boolean NOT NULL,
        PRIMARY KEY (device_id, ts, online)
      );
      CREATE INDEX IF NOT EXISTS device_presence_ts ON device_presence (ts);
    `,
  },
];

/**
 * TimescaleDB policies follow the configuration, so they are (re)applied at every start rather
 * than frozen in a migration.
 */
export function timescalePolicies(opts: { retentionDays: number; compressAfterDays: number }): string[] {
  return [
    `ALTER TABLE telemetry SET (timescaledb.compress, timescaledb.compress_segmentby = 'device_id, key', timescaledb.compress_orderby = 'ts DESC')`,
    `SELECT remove_compression_policy('telemetry', if_exists => true)`,
    `SELECT add_compression_policy('telemetry', INTERVAL '${opts.compressAfterDays} days')`,
    `SELECT remove_retention_policy('telemetry', if_exists => true)`,
    `SELECT add_retention_policy('telemetry', INTERVAL '${opts.retentionDays} days')`,
    `SELECT add_continuous_aggregate_policy('telemetry_1m', start_offset => INTERVAL '2 hours', end_offset => INTERVAL '1 minute', schedule_interval => INTERVAL '1 minute', if_not_exists => true)`,
    `SELECT add_continuous_aggregate_policy('telemetry_1h', start_offset => INTERVAL '3 days', end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '30 minutes', if_not_exists => true)`,
  ];
}
