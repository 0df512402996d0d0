//! Part of the `cli` test binary; shared helpers live in main.rs.

use super::*;

#[test]
fn demo_on_clinc150_meets_its_targets() {
    let dir = TempDir::new().expect("temp dir");
    let demo_db = dir.path().join("demo.db");
    let out = run(&["demo", "--json", "--demo-db", s(&demo_db)]);
    let r: DemoOut = out.expect(0).json();
    println!(
        "demo: coverage {:.4}, oos_false_inclusion {:.4}, in_scope_uncovered {:.4}, \
         mean_participants {:.3}, seconds {:?}",
        r.coverage, r.oos_false_inclusion, r.in_scope_uncovered, r.mean_participants, r.seconds
    );
    for a in &r.agents {
        println!(
            "  {:<20} k {:>2} lambda {:?} coverage {:.3} foreign {:.3} oos {:.3}",
            a.agent, a.k, a.lambda, a.coverage, a.foreign_inclusion, a.oos_inclusion
        );
    }
    assert_eq!(r.alpha, 0.05);
    assert!(r.model_id.contains('@'), "{}", r.model_id);
    let test = clinc("test");
    assert_eq!(r.test_rows, test.len());
    assert_eq!(r.oos_rows, test.iter().filter(|t| t.oos).count());
    assert!(test.iter().all(|t| t.split == "test" && !t.label.is_empty()));
    let domains: std::collections::BTreeSet<&str> =
        test.iter().filter(|t| !t.oos).map(|t| t.domain.as_str()).collect();
    let agents: std::collections::BTreeSet<&str> =
        r.agents.iter().map(|a| a.agent.as_str()).collect();
    assert_eq!(agents, domains, "one agent per in-scope domain");
    for a in &r.agents {
        assert!(a.k >= 1 && a.lambda.is_some(), "{a:?}");
        for share in [a.coverage, a.foreign_inclusion, a.oos_inclusion] {
            assert!((0.0..=1.0).contains(&share), "{a:?}");
        }
    }
    for stage in ["import", "fit", "embed_test", "participants"] {
        assert!(r.seconds.contains_key(stage), "{:?}", r.seconds);
    }
    assert!((0.0..=1.0).contains(&r.oos_false_inclusion));
    assert!((0.0..=1.0).contains(&r.in_scope_uncovered));
    assert!(r.coverage >= 0.95, "coverage {}", r.coverage);
    // Deterministic at the default seed: measured 0.240 (README, "The demo").
    assert!(r.oos_false_inclusion <= 0.25, "oos_false_inclusion {}", r.oos_false_inclusion);
    let corpus = dir.path().join("test.jsonl");
    let rows: Vec<serde_json::Value> =
        test.iter().map(|t| serde_json::json!({ "text": t.text })).collect();
    std::fs::write(&corpus, jsonl(&rows)).expect("write the corpus");
    engines_agree_on_the_demo_bureau(&demo_db, &corpus);
    gaps_without_travel_find_travel(&demo_db, &corpus, &test);
}

/// The demo's store answers `who` on every test row from its cache (no
/// text embedded again, nothing refitted), and the exact and hnsw engines
/// name the same participants and near misses at the same depths.
fn engines_agree_on_the_demo_bureau(demo_db: &Path, corpus: &Path) {
    let fits = || -> i64 {
        let conn = Connection::open(demo_db).expect("open the demo store");
        conn.query_row("SELECT COUNT(*) FROM fits", [], |r| r.get(0)).expect("count fits")
    };
    let before = fits();
    let who = |engine: &str| {
        let args = ["--db", s(demo_db), "who", "--input", s(corpus), "--json", "-v"];
        let out = run(&[&args[..], &["--engine", &engine.to_lowercase()]].concat());
        assert!(out.stderr.contains("fresh=0"), "every test row is cached: {}", out.stderr);
        assert!(out.stderr.contains(&format!("engine={engine}")), "{}", out.stderr);
        out.json::<Vec<WhoOut>>()
    };
    let (exact, hnsw) = (who("Exact"), who("Hnsw"));
    assert_eq!(exact.len(), hnsw.len());
    let same = |x: &[Member], y: &[Member]| {
        x.len() == y.len()
            && x.iter().zip(y).all(|(p, q)| p.agent == q.agent && (p.depth - q.depth).abs() < 1e-4)
    };
    for (e, h) in exact.iter().zip(&hnsw) {
        assert_eq!(e.text, h.text);
        let (e, h) = (&e.episode, &h.episode);
        assert!(same(&e.participants, &h.participants), "{e:?}\nvs hnsw {h:?}");
        assert!(same(&e.near_misses, &h.near_misses), "{e:?}\nvs hnsw {h:?}");
    }
    assert_eq!(fits(), before, "who refits nothing");
}

/// Gap regions of one corpus line set, as `bureau gaps --json` prints them.
#[derive(Debug, Deserialize)]
struct GapsOut {
    under_covered: usize,
    regions: Vec<GapRegion>,
}

#[derive(Debug, Deserialize)]
struct GapRegion {
    size: usize,
    lines: Vec<usize>,
}

/// The demo bureau without its travel agent: the test rows nobody covers
/// must cluster into regions that are mostly travel (purity of the largest)
/// and that hold most travel rows (recall). Measured 0.971 and 0.573 at the
/// demo's seed (README, "Gaps"); the floors leave room for encoder rounding
/// and sit far above chance (travel is 450 of the 5,500 test rows).
fn gaps_without_travel_find_travel(demo_db: &Path, corpus: &Path, test: &[Clinc]) {
    let args = ["--db", s(demo_db), "gaps", "--corpus", s(corpus), "--without", "travel"];
    let out: GapsOut = run(&[&args[..], &["--json"]].concat()).expect(0).json();
    let travel = |line: &usize| test[line - 1].domain == "travel" && !test[line - 1].oos;
    let largest = &out.regions[0];
    let purity = largest.lines.iter().filter(|l| travel(l)).count() as f64 / largest.size as f64;
    let found = out.regions.iter().flat_map(|r| &r.lines).filter(|l| travel(l)).count();
    let recall =
        found as f64 / test.iter().filter(|t| t.domain == "travel" && !t.oos).count() as f64;
    println!(
        "gaps without travel: {} under-covered, {} regions, purity {purity:.3}, recall {recall:.3}",
        out.under_covered,
        out.regions.len()
    );
    assert!(purity >= 0.9, "purity {purity:.3}");
    assert!(recall >= 0.5, "recall {recall:.3}");
}

// ---------------------------------------------------------------------------
// Known bugs, kept as failing regressions until fixed.

#[test]
fn agents_on_a_foreign_sqlite_database_leaves_it_alone() {
    let dir = TempDir::new().expect("temp dir");
    let db = dir.path().join("notes.db");
    Connection::open(&db)
        .and_then(|c| c.execute_batch("CREATE TABLE notes (x); INSERT INTO notes VALUES (1);"))
        .expect("a foreign database");
    let bytes = std::fs::read(&db).expect("read");
    for args in [&["agents"][..], &["init"], &["fit"]] {
        let out = run(&[&["--db", s(&db)][..], args].concat());
        assert_eq!(out.code, 2, "{out}");
        assert!(out.stderr.contains("not a bureau store"), "{out}");
        assert!(std::fs::read(&db).expect("read") == bytes, "the foreign database was changed");
    }
}
