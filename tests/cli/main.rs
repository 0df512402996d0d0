//! The real `bureau` binary driven end to end, in temporary directories.
//!
//! Real encoder (the int8 all-MiniLM-L6-v2 that scripts/setup.sh installs),
//! real SQLite stores, real CLINC150 rows from `data/clinc150`. JSON output
//! is parsed into strict structs mirroring src/cli/render.rs, so a renamed or
//! added field fails here.
//!
//! Most tests start from one fixture built once per run and copied into each
//! test's own directory: three domain agents (travel, banking,
//! kitchen_and_dining) with 60 training rows each as `train` evidence, 20
//! validation rows each as `eval` evidence, a few extra situations, and a
//! fit. `demo_on_clinc150_meets_its_targets` embeds all of CLINC150 and is
//! the slow one (minutes); skip it with `--skip demo_on_clinc150`.

use rusqlite::Connection;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use tempfile::TempDir;

const CLINC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/clinc150");
const DOMAINS: [&str; 3] = ["travel", "banking", "kitchen_and_dining"];
/// Dimension of all-MiniLM-L6-v2 embeddings.
const DIM: usize = 384;

// ---------------------------------------------------------------------------
// JSON shapes printed by the binary (src/cli/render.rs).

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InitOut {
    db: PathBuf,
    revision: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportOut {
    lines: usize,
    agents: usize,
    situations: usize,
    evidence: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Candidate {
    k: usize,
    spread_quantile: f64,
    outside_claimed: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FitRecord {
    method: String,
    alpha: Option<f64>,
    epsilon: Option<f64>,
    delta: Option<f64>,
    n_fit: usize,
    n_calibration: usize,
    k: usize,
    lambda: Option<f64>,
    bound: Option<f64>,
    reason: Option<String>,
    model_id: String,
    seed: u64,
    k_candidates: Vec<Candidate>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FitOut {
    agent: String,
    fit: FitRecord,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentRecord {
    id: i64,
    name: String,
    mission: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentOut {
    agent: AgentRecord,
    fit: Option<FitRecord>,
    prototypes: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Member {
    agent: String,
    depth: f64,
    angle: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Episode {
    participants: Vec<Member>,
    near_misses: Vec<Member>,
    cover: usize,
    under_covered: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WhoOut {
    text: String,
    episode: Episode,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EmbedOut {
    text: String,
    embedding: Vec<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DemoAgent {
    agent: String,
    k: usize,
    lambda: Option<f64>,
    coverage: f64,
    foreign_inclusion: f64,
    oos_inclusion: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DemoOut {
    alpha: f64,
    model_id: String,
    test_rows: usize,
    oos_rows: usize,
    coverage: f64,
    oos_false_inclusion: f64,
    in_scope_uncovered: f64,
    mean_participants: f64,
    agents: Vec<DemoAgent>,
    seconds: BTreeMap<String, f64>,
}

/// One CLINC150 row.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Clinc {
    text: String,
    label: String,
    domain: String,
    split: String,
    oos: bool,
}

// ---------------------------------------------------------------------------
// Running the binary.

#[path = "../common/mod.rs"]
mod common;
use common::{command, run, run_command, s, Run};

// ---------------------------------------------------------------------------
// Data.

fn clinc(split: &str) -> Vec<Clinc> {
    let path = Path::new(CLINC).join(format!("{split}.jsonl"));
    let text = std::fs::read_to_string(&path).expect("CLINC150 is in data/clinc150");
    text.lines().map(|l| serde_json::from_str(l).expect("CLINC150 rows parse")).collect()
}

/// `n` texts of `domain` spread evenly over the split (rows are grouped by
/// intent, so this takes every intent of the domain).
fn spread(rows: &[Clinc], domain: &str, n: usize) -> Vec<String> {
    let of: Vec<&Clinc> = rows.iter().filter(|r| r.domain == domain && !r.oos).collect();
    assert!(of.len() >= n, "{domain} has {} rows, wanted {n}", of.len());
    (0..n).map(|i| of[i * of.len() / n].text.clone()).collect()
}

fn jsonl(rows: &[serde_json::Value]) -> String {
    rows.iter().map(|r| format!("{r}\n")).collect()
}

fn evidence_line(text: &str, agent: &str, source: &str) -> serde_json::Value {
    serde_json::json!({ "text": text, "agent": agent, "outcome": "ok", "source": source })
}

fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    dot / (norm(a) * norm(b))
}

fn norm(a: &[f64]) -> f64 {
    a.iter().map(|x| x * x).sum::<f64>().sqrt()
}

// ---------------------------------------------------------------------------
// The shared fixture.

/// The fixture's store files, kept in memory so no directory outlives a run.
struct Fixture {
    /// After init and every import, before `fit`.
    unfitted: Vec<u8>,
    /// After `fit`.
    fitted: Vec<u8>,
    /// The encoder's model id as the store records it.
    model_id: String,
}

/// Extra situations imported into the fixture (not evidence of anyone).
const EXTRA_SITUATIONS: [&str; 3] =
    ["what is the weather like tomorrow", "set an alarm for six am", "tell me a joke"];

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(build_fixture)
}

fn build_fixture() -> Fixture {
    let dir = TempDir::new().expect("temp dir");
    let db = dir.path().join("b.db");
    let bureau = |args: &[&str]| {
        let mut all = vec!["--db", s(&db)];
        all.extend_from_slice(args);
        run(&all)
    };
    let init: InitOut = bureau(&["init", "--json"]).expect(0).json();
    assert_eq!((init.db, init.revision), (db.clone(), 0));

    let agents: Vec<_> = DOMAINS
        .iter()
        .map(|d| serde_json::json!({ "name": d, "mission": format!("handles {d} requests") }))
        .collect();
    let agents_file = dir.path().join("agents.jsonl");
    std::fs::write(&agents_file, jsonl(&agents)).expect("write agents");
    let out: ImportOut = bureau(&["import", "agents", s(&agents_file), "--json"]).expect(0).json();
    assert_eq!((out.lines, out.agents, out.situations, out.evidence), (3, 3, 0, 0));

    let (train, val) = (clinc("train"), clinc("val"));
    let mut evidence = Vec::new();
    for d in DOMAINS {
        evidence.extend(spread(&train, d, 60).iter().map(|t| evidence_line(t, d, "train")));
        evidence.extend(spread(&val, d, 20).iter().map(|t| evidence_line(t, d, "eval")));
    }
    let evidence_file = dir.path().join("evidence.jsonl");
    std::fs::write(&evidence_file, jsonl(&evidence)).expect("write evidence");
    let out: ImportOut =
        bureau(&["import", "evidence", s(&evidence_file), "--json"]).expect(0).json();
    assert_eq!((out.lines, out.agents, out.evidence), (240, 0, 240));
    assert!(out.situations > 230, "distinct situations {out:?}");

    let situations: Vec<_> =
        EXTRA_SITUATIONS.iter().map(|t| serde_json::json!({ "text": t })).collect();
    let situations_file = dir.path().join("situations.jsonl");
    std::fs::write(&situations_file, jsonl(&situations)).expect("write situations");
    let out: ImportOut =
        bureau(&["import", "situations", s(&situations_file), "--json"]).expect(0).json();
    assert_eq!((out.lines, out.situations, out.evidence), (3, 3, 0));

    let unfitted = std::fs::read(&db).expect("read store");
    bureau(&["fit"]).expect(0);
    let fitted = std::fs::read(&db).expect("read store");
    let model_id = Connection::open(&db)
        .and_then(|c| {
            c.query_row("SELECT value FROM meta WHERE key = 'model_id'", [], |r| r.get(0))
        })
        .expect("the store records its model");
    Fixture { unfitted, fitted, model_id }
}

/// A test's own copy of a fixture store in its own directory.
struct Store {
    dir: TempDir,
    db: PathBuf,
}

impl Store {
    fn from_bytes(bytes: &[u8]) -> Self {
        let dir = TempDir::new().expect("temp dir");
        let db = dir.path().join("b.db");
        std::fs::write(&db, bytes).expect("copy the fixture store");
        Store { dir, db }
    }

    fn fitted() -> Self {
        Self::from_bytes(&fixture().fitted)
    }

    fn unfitted() -> Self {
        Self::from_bytes(&fixture().unfitted)
    }

    /// Runs `bureau --db <this store> args...`.
    fn run(&self, args: &[&str]) -> Run {
        let mut all = vec!["--db", s(&self.db)];
        all.extend_from_slice(args);
        run(&all)
    }

    /// Writes a file in the store's directory.
    fn file(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, bytes).expect("write input file");
        path
    }

    fn sql<T: rusqlite::types::FromSql>(&self, query: &str) -> T {
        let conn = Connection::open(&self.db).expect("open the store with rusqlite");
        conn.query_row(query, [], |r| r.get(0)).unwrap_or_else(|e| panic!("{query}: {e}"))
    }

    /// Row counts of every table and the revision.
    fn counts(&self) -> BTreeMap<&'static str, i64> {
        let mut counts = BTreeMap::new();
        for table in ["agents", "evidence", "situations", "fits", "prototypes"] {
            counts.insert(table, self.sql(&format!("SELECT COUNT(*) FROM {table}")));
        }
        let revision: String = self.sql("SELECT value FROM meta WHERE key = 'revision'");
        counts.insert("revision", revision.parse().expect("revision is a number"));
        counts
    }
}

fn who_agents(e: &Episode) -> Vec<&str> {
    e.participants.iter().map(|m| m.agent.as_str()).collect()
}

mod bad_input;
mod demo;
mod end_to_end;
mod overlaps;
mod stores;
