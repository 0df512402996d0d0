//! Risk-mode fitting and audit, through the real `bureau` binary.
//!
//! Real encoder, real SQLite, real CLINC150 rows. The fixture, built once:
//! an agent `travel` whose `ok` evidence is travel rows and whose `fail`
//! evidence is banking rows (it fails on banking), fitted in risk mode with
//! eval evidence of both kinds; and an agent `tiny` with a dozen rows, too
//! few to certify anything. JSON output is parsed into strict structs
//! mirroring src/audit/mod.rs and src/cli/audit.rs.

use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use tempfile::TempDir;

mod common;
use common::run_on;
const CLINC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/clinc150");
const EPSILON: f64 = 0.1;
const DELTA: f64 = 0.1;

// ---------------------------------------------------------------------------
// JSON shapes.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FitSummary {
    agent: String,
    fit: FitRecord,
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
    #[expect(dead_code, reason = "parsed for strictness only")]
    model_id: String,
    seed: u64,
    #[expect(dead_code, reason = "parsed for strictness only")]
    k_candidates: Vec<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditReport {
    rows: u64,
    agents: Vec<AgentAudit>,
}

#[derive(Debug, Deserialize, PartialEq, Clone, Copy)]
#[serde(deny_unknown_fields)]
struct Counts {
    ok: u64,
    fail: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Interval {
    low: f64,
    high: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Deepest {
    line: usize,
    text: String,
    depth: f32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentAudit {
    agent: String,
    method: Option<String>,
    prototypes: usize,
    lambda: Option<f64>,
    epsilon: Option<f64>,
    delta: f64,
    inside: Counts,
    outside: Counts,
    failure_rate_inside: Option<f64>,
    interval: Interval,
    coverage_ok: Option<f64>,
    verdict: Option<String>,
    deepest_failures: Vec<Deepest>,
    accepted_lambda: Option<f64>,
}

#[derive(Debug, Deserialize)]
struct Who {
    text: String,
    episode: Episode,
}

#[derive(Debug, Deserialize)]
struct Episode {
    participants: Vec<Member>,
}

#[derive(Debug, Deserialize)]
struct Member {
    agent: String,
    depth: f32,
}

#[derive(Debug, Deserialize)]
struct Clinc {
    text: String,
    domain: String,
}

// ---------------------------------------------------------------------------
// Running the binary.

/// `n` texts of `domain` spread evenly over a split.
fn texts(split: &str, domain: &str, n: usize) -> Vec<String> {
    let path = Path::new(CLINC).join(format!("{split}.jsonl"));
    let all = std::fs::read_to_string(path).expect("CLINC150 is in data/clinc150");
    let rows: Vec<Clinc> =
        all.lines().map(|l| serde_json::from_str(l).expect("rows parse")).collect();
    let of: Vec<&Clinc> = rows.iter().filter(|r| r.domain == domain).collect();
    (0..n).map(|i| of[i * of.len() / n].text.clone()).collect()
}

fn lines(texts: &[String], agent: &str, outcome: &str, source: &str) -> String {
    texts
        .iter()
        .map(|t| {
            let v = serde_json::json!({
                "text": t, "agent": agent, "outcome": outcome, "source": source
            });
            format!("{v}\n")
        })
        .collect()
}

// ---------------------------------------------------------------------------
// The fixture.

struct Fixture {
    _dir: TempDir,
    db: PathBuf,
    fits: Vec<FitSummary>,
}

impl Fixture {
    fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.db.with_file_name(name);
        std::fs::write(&path, text).expect("temp dir is writable");
        path
    }

    fn fit(&self, agent: &str) -> &FitRecord {
        &self.fits.iter().find(|f| f.agent == agent).expect("agent was fitted").fit
    }
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(build)
}

fn build() -> Fixture {
    let dir = TempDir::new().expect("temp dir");
    let db = dir.path().join("bureau.db");
    let write = |name: &str, text: String| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("temp dir is writable");
        path
    };
    let agents = write("agents.jsonl", "{\"name\": \"travel\"}\n{\"name\": \"tiny\"}\n".into());
    let mut evidence = lines(&texts("train", "travel", 200), "travel", "ok", "train");
    evidence += &lines(&texts("train", "banking", 60), "travel", "fail", "train");
    evidence += &lines(&texts("val", "travel", 120), "travel", "ok", "eval");
    evidence += &lines(&texts("val", "banking", 120), "travel", "fail", "eval");
    evidence += &lines(&texts("train", "home", 10), "tiny", "ok", "train");
    evidence += &lines(&texts("train", "utility", 3), "tiny", "fail", "train");
    let evidence = write("evidence.jsonl", evidence);
    run_on(&db, &["init"]).expect(0);
    run_on(&db, &["import", "agents", agents.to_str().expect("utf-8")]).expect(0);
    run_on(&db, &["import", "evidence", evidence.to_str().expect("utf-8")]).expect(0);
    let (eps, delta) = (EPSILON.to_string(), DELTA.to_string());
    let fit = run_on(&db, &["--json", "fit", "--epsilon", &eps, "--delta", &delta]);
    let fits = fit.expect(0).json();
    Fixture { _dir: dir, db, fits }
}

// ---------------------------------------------------------------------------
// Tests.

#[test]
fn risk_fit_certifies_a_scope_that_excludes_the_fail_region() {
    let f = fixture();
    let travel = f.fit("travel");
    assert_eq!(travel.method, "risk");
    assert_eq!((travel.alpha, travel.epsilon, travel.delta), (None, Some(EPSILON), Some(DELTA)));
    assert_eq!(
        (travel.n_fit, travel.n_calibration),
        (200, 240),
        "eval rows of both kinds calibrate"
    );
    assert!(travel.reason.is_none(), "{travel:?}");
    assert!(travel.lambda.is_some_and(|l| l > 0.0) && travel.k > 0, "{travel:?}");
    assert!(travel.bound.is_some_and(|b| b <= EPSILON), "{travel:?}");
    // Fresh rows in the calibration's mix (half travel, half banking):
    // travel's own rows must mostly fall inside, banking's (its failures)
    // must stay out.
    let mut audit = lines(&texts("test", "travel", 100), "travel", "ok", "eval");
    audit += &lines(&texts("test", "banking", 100), "travel", "fail", "eval");
    let path = f.file("fresh.jsonl", &audit);
    let report: AuditReport =
        run_on(&f.db, &["--json", "audit", "--evidence", path.to_str().expect("utf-8")])
            .expect(0)
            .json();
    assert_eq!(report.rows, 200);
    let a = &report.agents[0];
    assert_eq!(a.agent, "travel");
    assert!(a.inside.fail <= 10, "banking rows claimed: {a:?}");
    assert!(a.coverage_ok.is_some_and(|c| c >= 0.5), "{a:?}");
    // The certificate is on the true rate: the scan climbs to the largest
    // certified scale, so the sample rate may sit near epsilon, but fresh
    // evidence must not prove it above.
    assert_ne!(a.verdict.as_deref(), Some("overreaching"), "{a:?}");
    assert!(a.interval.low <= EPSILON, "{a:?}");
}

#[test]
fn agent_with_too_little_evidence_gets_an_empty_scope_with_the_reason() {
    let tiny = fixture().fit("tiny");
    assert_eq!(tiny.method, "risk");
    assert_eq!(tiny.lambda, None);
    assert_eq!(tiny.k, 1, "prototypes are fitted, the scale is not certified");
    // 13 rows, 30% held out: 4 calibration points, 3 of them testing.
    assert_eq!(tiny.n_calibration, 4);
    let reason = tiny.reason.as_deref().expect("an empty scope says why");
    assert!(
        reason.starts_with("needs at least 22 outcomes inside, all ok, to certify epsilon = 0.1"),
        "{reason}"
    );
    assert_eq!(tiny.seed, 17);
}

#[test]
fn audit_json_counts_match_membership_counted_by_hand() {
    let f = fixture();
    // Travel and banking rows, alternately ok and fail, plus tiny's rows.
    let travel: Vec<String> =
        texts("test", "travel", 6).into_iter().chain(texts("test", "banking", 4)).collect();
    let mut audit = String::new();
    for (i, t) in travel.iter().enumerate() {
        audit += &lines(std::slice::from_ref(t), "travel", ["ok", "fail"][i % 2], "eval");
    }
    audit += &lines(&texts("test", "home", 2), "tiny", "fail", "eval");
    let path = f.file("tiny.jsonl", &audit);
    let report: AuditReport =
        run_on(&f.db, &["--json", "audit", "--evidence", path.to_str().expect("utf-8")])
            .expect(0)
            .json();
    assert_eq!(report.rows, 12);
    // By hand: `who` says which rows the travel scope holds.
    let situations: String =
        travel.iter().map(|t| format!("{}\n", serde_json::json!({ "text": t }))).collect();
    let who_path = f.file("who.jsonl", &situations);
    let who = run_on(&f.db, &["--json", "who", "--input", who_path.to_str().expect("utf-8")]);
    let episodes: Vec<Who> = serde_json::from_str(&who.stdout).expect("who prints JSON");
    let (mut inside, mut outside) = (Counts { ok: 0, fail: 0 }, Counts { ok: 0, fail: 0 });
    let mut failures_inside = Vec::new();
    for (i, w) in episodes.iter().enumerate() {
        assert_eq!(w.text, travel[i]);
        let member = w.episode.participants.iter().find(|m| m.agent == "travel");
        let bucket = if member.is_some() { &mut inside } else { &mut outside };
        if i % 2 == 0 {
            bucket.ok += 1
        } else {
            bucket.fail += 1
        }
        if let (Some(m), 1) = (member, i % 2) {
            failures_inside.push((i + 1, m.depth));
        }
    }
    let a = report.agents.iter().find(|a| a.agent == "travel").expect("travel audited");
    assert_eq!((a.inside, a.outside), (inside, outside));
    assert_eq!((a.method.as_deref(), a.epsilon, a.delta), (Some("risk"), Some(EPSILON), DELTA));
    assert!(a.prototypes > 0 && a.lambda.is_some());
    let n_in = inside.ok + inside.fail;
    assert_eq!(a.failure_rate_inside, (n_in > 0).then(|| inside.fail as f64 / n_in as f64));
    assert_eq!(a.coverage_ok, Some(inside.ok as f64 / 5.0));
    let rate = a.failure_rate_inside.unwrap_or(0.0);
    assert!(a.interval.low <= rate && rate <= a.interval.high, "{a:?}");
    failures_inside.sort_by(|x, y| y.1.total_cmp(&x.1));
    let deepest: Vec<usize> = a.deepest_failures.iter().map(|d| d.line).collect();
    assert_eq!(deepest, failures_inside.iter().map(|d| d.0).take(5).collect::<Vec<_>>());
    for d in &a.deepest_failures {
        assert_eq!(d.text, travel[d.line - 1]);
        let expected = failures_inside.iter().find(|x| x.0 == d.line).map(|x| x.1);
        assert!(expected.is_some_and(|e| (e - d.depth).abs() < 1e-4), "{d:?}");
    }
    assert!(a.verdict.is_some());
    // Twelve rows certify nothing at epsilon 0.1.
    assert_eq!(a.accepted_lambda, None);
    let t = report.agents.iter().find(|a| a.agent == "tiny").expect("tiny audited");
    assert_eq!(
        (t.inside, t.outside, t.prototypes),
        (Counts { ok: 0, fail: 0 }, Counts { ok: 0, fail: 2 }, 0)
    );
    assert_eq!(t.verdict.as_deref(), Some("conservative"), "an empty scope claims nothing");
    assert_eq!((t.failure_rate_inside, t.coverage_ok), (None, None));
}

#[test]
fn bad_audit_lines_exit_2_naming_file_and_line() {
    let f = fixture();
    let good = lines(&texts("test", "travel", 2), "travel", "ok", "eval");
    let cases = [
        ("json.jsonl", format!("{good}{{\"text\": \n"), 3, ""),
        (
            "agent.jsonl",
            format!("{good}{}", lines(&["a trip".into()], "nobody", "ok", "eval")),
            3,
            "unknown agent \"nobody\"",
        ),
        (
            "outcome.jsonl",
            format!("\n{}", lines(&["a trip".into()], "travel", "maybe", "eval")),
            2,
            "unknown variant",
        ),
        ("empty.jsonl", lines(&["  ".into()], "travel", "ok", "eval"), 1, "text is empty"),
    ];
    for (name, text, line, words) in cases {
        let path = f.file(name, &text);
        let out = run_on(&f.db, &["audit", "--evidence", path.to_str().expect("utf-8")]);
        out.expect(2);
        let at = format!("{}:{line}:", path.display());
        assert!(out.stderr.contains(&at) && out.stderr.contains(words), "{name}: {}", out.stderr);
    }
    let out = run_on(&f.db, &["fit", "--epsilon", "0.1", "--alpha", "0.1"]);
    assert_eq!(out.code, 2, "risk and coverage modes exclude each other: {}", out.stderr);
    let out = run_on(&f.db, &["fit", "--epsilon", "1.5"]);
    assert!(out.code == 2 && out.stderr.contains("--epsilon must lie in (0, 1)"), "{}", out.stderr);
}
