//! The store's schema and its migrations.
//!
//! The schema version lives in SQLite's `user_version`. Each migration moves
//! the schema one version up inside the caller's transaction, so a store is
//! never left between versions.

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = 2;

/// Migrations, the one at index `i` moving version `i` to `i + 1`.
pub const MIGRATIONS: &[&str] = &[V1, V2];

const V1: &str = "
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO meta (key, value) VALUES ('revision', '0');

CREATE TABLE situations (
    id        INTEGER PRIMARY KEY,
    text      TEXT NOT NULL,
    text_hash BLOB NOT NULL,
    model_id  TEXT NOT NULL,
    embedding BLOB NOT NULL,
    UNIQUE (text_hash, model_id)
);

CREATE TABLE agents (
    id      INTEGER PRIMARY KEY,
    name    TEXT NOT NULL UNIQUE,
    mission TEXT NOT NULL DEFAULT ''
);

CREATE TABLE evidence (
    id           INTEGER PRIMARY KEY,
    situation_id INTEGER NOT NULL REFERENCES situations (id),
    agent_id     INTEGER NOT NULL REFERENCES agents (id),
    outcome      TEXT NOT NULL CHECK (outcome IN ('ok', 'fail')),
    source       TEXT NOT NULL CHECK (source IN ('train', 'eval', 'episode'))
);
CREATE INDEX evidence_agent ON evidence (agent_id);

CREATE TABLE fits (
    id         INTEGER PRIMARY KEY,
    agent_id   INTEGER NOT NULL REFERENCES agents (id),
    record     TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    active     INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX fits_agent ON fits (agent_id, active);

CREATE TABLE prototypes (
    id      INTEGER PRIMARY KEY,
    fit_id  INTEGER NOT NULL REFERENCES fits (id),
    centre  BLOB NOT NULL,
    spread  REAL NOT NULL,
    radius  REAL NOT NULL
);
CREATE INDEX prototypes_fit ON prototypes (fit_id);
";

/// Episodes: a situation and the agents the bureau named for it. A
/// participant row with negative depth is a near miss. `evidence_id` is set
/// once the agent's outcome is reported, so an outcome is taken once.
const V2: &str = "
CREATE TABLE episodes (
    id           INTEGER PRIMARY KEY,
    situation_id INTEGER NOT NULL REFERENCES situations (id),
    created_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);

CREATE TABLE episode_participants (
    episode_id  INTEGER NOT NULL REFERENCES episodes (id),
    agent_id    INTEGER NOT NULL REFERENCES agents (id),
    depth       REAL NOT NULL,
    evidence_id INTEGER REFERENCES evidence (id),
    PRIMARY KEY (episode_id, agent_id)
);
";
