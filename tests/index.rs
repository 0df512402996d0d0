//! The scope index at work: the hnsw engine against the exact one on seeded
//! synthetic bureaus (recall floors, the same participants), graph dumps
//! refused when stale or damaged, and a small real CLINC150 bureau answered
//! alike by both engines through the `bureau` binary, whose graphs are
//! dumped beside the store and rebuilt when the store changes.

use bureau_index::synthetic::{clustered, Spec};
use bureau_index::{
    DumpError, Engine, EngineChoice, HnswParams, Layout, Participant, Participation, Policy,
    ScopeIndex,
};
use proptest::prelude::*;
use std::path::Path;
use tempfile::TempDir;

mod common;
const CLINC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/clinc150");

/// A small synthetic bureau: 1500 prototypes in 48 dimensions.
fn small(seed: u64) -> (ScopeIndex, Vec<f32>) {
    let spec = Spec { dim: 48, cluster_size: 100, ..Spec::new(1500, 60, seed) };
    let data = clustered(&spec);
    (
        ScopeIndex::try_new(spec.dim, data.prototypes).expect("synthetic caps are valid"),
        data.situations,
    )
}

/// Share of the exact engine's members that the hnsw engine found, after
/// checking that the hnsw engine really ran and reported no false member.
fn recall(index: &ScopeIndex, situations: &[f32]) -> f64 {
    let exact = index.membership_by(situations, EngineChoice::Exact).expect("exact runs");
    let hnsw = index.membership_by(situations, EngineChoice::Hnsw).expect("hnsw runs");
    assert_eq!((exact.engine, hnsw.engine), (Engine::Exact, Engine::Hnsw));
    let (mut found, mut total) = (0, 0);
    for (t, g) in exact.rows.iter().zip(&hnsw.rows) {
        let truth: Vec<u32> = t.iter().map(|h| h.prototype).collect();
        assert!(g.iter().all(|h| truth.contains(&h.prototype)), "hnsw reported a non-member");
        found += g.len();
        total += t.len();
    }
    assert!(total > 100, "the data must exercise membership, got {total} members");
    found as f64 / total as f64
}

/// The same agents, in the same order, as participants and as near misses,
/// at depths equal up to rounding: the exact engine takes cosines from a
/// matrix product, the hnsw engine from single dot products, so the last
/// bits of a depth may differ.
fn alike(a: &Participation, b: &Participation) -> bool {
    let same = |x: &[Participant], y: &[Participant]| {
        x.len() == y.len()
            && x.iter().zip(y).all(|(p, q)| {
                (p.agent, p.prototype) == (q.agent, q.prototype) && (p.depth - q.depth).abs() < 1e-4
            })
    };
    same(&a.participants, &b.participants) && same(&a.near_misses, &b.near_misses)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4))]

    // Radius bands (the default layout) keep recall at or above 0.99 on any
    // seed and give the exact engine's participants; the lifted graph, kept
    // as an option, is held to 0.95 (it measured 0.984 at worst here and
    // 0.94 at 10^5 prototypes, which is why it is not the default).
    #[test]
    fn hnsw_matches_exact_on_seeded_bureaus(seed in 0u64..1_000_000) {
        let (mut index, situations) = small(seed);
        for (layout, floor) in [(Layout::Lifted, 0.95), (Layout::Bands { count: 3 }, 0.99)] {
            index.build_graphs(&HnswParams { layout, ..HnswParams::default() });
            let r = recall(&index, &situations);
            prop_assert!(r >= floor, "{layout:?} recall {r}");
        }
        index.build_graphs(&HnswParams::default());
        let policy = Policy::default();
        let exact = index.participants_by(&situations, &policy, EngineChoice::Exact).unwrap();
        let hnsw = index.participants_by(&situations, &policy, EngineChoice::Hnsw).unwrap();
        prop_assert_eq!(hnsw.engine, Engine::Hnsw);
        let same = exact.rows.iter().zip(&hnsw.rows).filter(|(a, b)| alike(a, b)).count();
        let n = situations.len() / 48;
        prop_assert!(same as f64 >= 0.98 * n as f64, "only {same} of {n} situations agree");
    }
}

#[test]
fn auto_picks_exact_without_graphs_and_hnsw_is_refused_then() {
    let (index, situations) = small(3);
    let answer = index.membership_by(&situations[..48], EngineChoice::Auto).unwrap();
    assert_eq!(answer.engine, Engine::Exact);
    assert!(index.membership_by(&situations, EngineChoice::Hnsw).is_err());
}

#[test]
fn dumps_load_only_at_their_revision_and_intact() {
    let dir = TempDir::new().expect("temp dir");
    let (mut index, situations) = small(11);
    index.build_graphs(&HnswParams::default());
    index.dump_graphs(dir.path(), 5).expect("dump");
    let want = index.membership_by(&situations, EngineChoice::Hnsw).unwrap();

    let fresh = || small(11).0;
    let mut loaded = fresh();
    loaded.load_graphs(dir.path(), 5).expect("a fresh dump loads");
    assert_eq!(loaded.membership_by(&situations, EngineChoice::Hnsw).unwrap(), want);

    let mut stale = fresh();
    let err = stale.load_graphs(dir.path(), 6).unwrap_err();
    assert!(matches!(err, DumpError::Stale { expected: 6, found: 5, .. }), "{err}");
    assert!(!stale.has_graphs());

    let mut other = small(12).0;
    assert!(matches!(other.load_graphs(dir.path(), 5), Err(DumpError::Mismatch { .. })));

    flip_byte(&dir.path().join("graph0.hnsw.data"));
    let mut damaged = fresh();
    assert!(matches!(damaged.load_graphs(dir.path(), 5), Err(DumpError::Corrupt { .. })));

    std::fs::remove_file(dir.path().join("stamp.json")).expect("remove stamp");
    assert!(matches!(fresh().load_graphs(dir.path(), 5), Err(DumpError::Missing { .. })));
}

fn flip_byte(path: &Path) {
    let mut bytes = std::fs::read(path).expect("read dump file");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x5a;
    std::fs::write(path, bytes).expect("write dump file");
}

// ---------------------------------------------------------------------------
// A small real bureau through the binary.

fn bureau(db: &Path, args: &[&str]) -> (i32, String, String) {
    let out = common::run_on(db, args);
    (out.code, out.stdout, out.stderr)
}

/// `n` rows of `domain` from a CLINC150 split, as JSONL lines.
fn rows(split: &str, domain: &str, n: usize, line: impl Fn(&str) -> String) -> String {
    let text = std::fs::read_to_string(Path::new(CLINC).join(format!("{split}.jsonl")))
        .expect("CLINC150 is in data/clinc150");
    let of: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("CLINC150 rows parse"))
        .filter(|v: &serde_json::Value| v["domain"] == domain && v["oos"] == false)
        .collect();
    (0..n).map(|i| line(of[i * of.len() / n]["text"].as_str().unwrap_or_default())).collect()
}

/// Two `who --json` outputs name the same agents in the same order, as
/// participants and as near misses, at depths equal up to rounding (the
/// engines take cosines from a matrix product and from dot products).
fn assert_same(got: &str, want: &str) {
    let parse = |text: &str| -> Vec<serde_json::Value> {
        serde_json::from_str(text).unwrap_or_else(|e| panic!("who --json: {e}"))
    };
    let (got, want) = (parse(got), parse(want));
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        for list in ["participants", "near_misses"] {
            let (a, b) = (&g["episode"][list], &w["episode"][list]);
            let (a, b) = (a.as_array().expect("a list"), b.as_array().expect("a list"));
            let names = |v: &[serde_json::Value]| -> Vec<String> {
                v.iter().map(|m| m["agent"].to_string()).collect()
            };
            assert_eq!(names(a), names(b), "{list} of {}", w["text"]);
            for (x, y) in a.iter().zip(b) {
                let depth = |m: &serde_json::Value| m["depth"].as_f64().expect("a depth");
                assert!((depth(x) - depth(y)).abs() < 1e-4, "depth of {} in {}", x, w["text"]);
            }
        }
    }
}

#[test]
fn exact_and_hnsw_name_the_same_participants_on_clinc150_and_dumps_follow_the_store() {
    let dir = TempDir::new().expect("temp dir");
    let db = dir.path().join("b.db");
    let file = |name: &str, text: String| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write input");
        path
    };
    let domains = ["travel", "banking", "kitchen_and_dining", "utility"];
    let agents: String =
        domains.iter().map(|d| format!("{{\"name\":\"{d}\",\"mission\":\"{d}\"}}\n")).collect();
    let evidence: String = domains
        .iter()
        .map(|d| {
            rows("train", d, 250, |t| {
                serde_json::json!({"text": t, "agent": d, "outcome": "ok", "source": "train"})
                    .to_string()
                    + "\n"
            })
        })
        .collect();
    let queries: String = domains
        .iter()
        .map(|d| rows("val", d, 15, |t| serde_json::json!({"text": t}).to_string() + "\n"))
        .collect();
    let (agents, evidence, queries) =
        (file("a.jsonl", agents), file("e.jsonl", evidence), file("q.jsonl", queries));
    let s = |p: &Path| p.to_str().expect("temp paths are UTF-8").to_owned();
    for args in [
        vec!["init".to_owned()],
        vec!["import".into(), "agents".into(), s(&agents)],
        vec!["import".into(), "evidence".into(), s(&evidence)],
        vec!["fit".into()],
    ] {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, out, err) = bureau(&db, &refs);
        assert_eq!(code, 0, "{args:?}\n{out}\n{err}");
    }

    let who = |engine: &str| {
        bureau(&db, &["who", "--input", &s(&queries), "--json", "-v", "--engine", engine])
    };
    let (code, exact, log) = who("exact");
    assert!(code == 0 && log.contains("engine=Exact"), "exit {code}\n{exact}\n{log}");
    let (_, hnsw, log) = who("hnsw");
    assert!(log.contains("engine=Hnsw") && log.contains("built hnsw graphs"), "{log}");
    assert_same(&hnsw, &exact);
    let dump = dir.path().join("b.db.index");
    assert!(dump.join("stamp.json").exists());

    let (_, again, log) = who("hnsw");
    assert!(log.contains("loaded hnsw graphs") && !log.contains("rebuilding"), "{log}");
    assert_same(&again, &exact);

    // Caps wider than 1 rad are scanned, not graphed; 250 rows per domain
    // give some narrow ones, so the dump holds at least one graph.
    let graph = dump.join("graph0.hnsw.graph");
    assert!(graph.exists(), "no graph was dumped: every cap is scanned");
    flip_byte(&graph);
    let (_, repaired, log) = who("hnsw");
    assert!(log.contains("is corrupt") && log.contains("built hnsw graphs"), "{log}");
    assert_same(&repaired, &exact);

    let (code, _, err) = bureau(&db, &["fit", "--agent", "travel"]);
    assert_eq!(code, 0, "{err}");
    let (_, _, log) = who("hnsw");
    assert!(log.contains("is stale") && log.contains("built hnsw graphs"), "{log}");
}
