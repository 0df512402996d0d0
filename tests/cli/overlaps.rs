//! Part of the `cli` test binary: `bureau overlaps` checked against the
//! stored prototypes (the exact cap test, recomputed here in f64) and, with
//! a corpus, against the participants `bureau who` names.

use super::*;
use std::collections::{BTreeSet, HashMap};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Edge {
    a: String,
    b: String,
    depth: f64,
    pairs: usize,
    both: Option<usize>,
    jaccard: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OverlapsOut {
    edges: Vec<Edge>,
    groups: Vec<Vec<String>>,
    alone: Vec<String>,
    corpus: Option<usize>,
}

/// Every active prototype of the store: agent name, centre, radius.
fn prototypes(store: &Store) -> Vec<(String, Vec<f64>, f64)> {
    let conn = Connection::open(&store.db).expect("open the store");
    let mut stmt = conn
        .prepare(
            "SELECT a.name, p.centre, p.radius FROM prototypes p \
             JOIN fits f ON p.fit_id = f.id JOIN agents a ON f.agent_id = a.id \
             WHERE f.active = 1",
        )
        .expect("prepare");
    let rows = stmt
        .query_map([], |r| {
            let blob: Vec<u8> = r.get(1)?;
            let centre = blob
                .chunks_exact(4)
                .map(|b| f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
                .collect();
            Ok((r.get(0)?, centre, r.get(2)?))
        })
        .expect("query");
    rows.map(|r| r.expect("a prototype row")).collect()
}

/// Per agent pair (names in sorted order): intersecting cap pairs and the
/// deepest intersection r1 + r2 - angle(c1, c2), by the naive exact test.
fn naive_overlaps(protos: &[(String, Vec<f64>, f64)]) -> HashMap<(String, String), (usize, f64)> {
    let mut out: HashMap<(String, String), (usize, f64)> = HashMap::new();
    for (i, (a, ca, ra)) in protos.iter().enumerate() {
        for (b, cb, rb) in &protos[i + 1..] {
            let angle = cosine(ca, cb).clamp(-1.0, 1.0).acos();
            if a == b || angle > ra + rb {
                continue;
            }
            let key = if a < b { (a.clone(), b.clone()) } else { (b.clone(), a.clone()) };
            let entry = out.entry(key).or_insert((0, f64::NEG_INFINITY));
            entry.0 += 1;
            entry.1 = entry.1.max(ra + rb - angle);
        }
    }
    out
}

fn key(e: &Edge) -> (String, String) {
    if e.a < e.b {
        (e.a.clone(), e.b.clone())
    } else {
        (e.b.clone(), e.a.clone())
    }
}

#[test]
fn overlaps_match_the_cap_test_and_the_participants_of_a_corpus() {
    let store = Store::fitted();
    let naive = naive_overlaps(&prototypes(&store));
    assert!(!naive.is_empty(), "the fixture's scopes overlap somewhere");

    // Edges: exactly the pairs the naive test finds, with its counts and depth.
    let out: OverlapsOut = store.run(&["overlaps", "--json"]).expect(0).json();
    let got: HashMap<_, _> = out.edges.iter().map(|e| (key(e), e)).collect();
    assert_eq!(got.len(), out.edges.len(), "each pair once: {:?}", out.edges);
    assert_eq!(got.keys().collect::<BTreeSet<_>>(), naive.keys().collect::<BTreeSet<_>>());
    for (k, (pairs, depth)) in &naive {
        let e = got[k];
        assert_eq!(e.pairs, *pairs, "{e:?}");
        assert!((e.depth - depth).abs() < 1e-4, "{e:?} vs naive depth {depth}");
        assert!(e.both.is_none() && e.jaccard.is_none() && out.corpus.is_none());
    }
    for pair in out.edges.windows(2) {
        assert!(pair[0].depth >= pair[1].depth, "deepest first: {:?}", out.edges);
    }
    let grouped: BTreeSet<&str> =
        out.groups.iter().flatten().chain(&out.alone).map(String::as_str).collect();
    assert_eq!(grouped, DOMAINS.iter().copied().collect(), "{out:?}");

    // With a corpus: both and jaccard agree with who's participants.
    let val = clinc("val");
    let texts: Vec<String> = DOMAINS.iter().flat_map(|d| spread(&val, d, 30)).collect();
    let lines: Vec<_> = texts.iter().map(|t| serde_json::json!({ "text": t })).collect();
    let corpus = store.file("corpus.jsonl", jsonl(&lines));
    let out: OverlapsOut =
        store.run(&["overlaps", "--corpus", s(&corpus), "--json"]).expect(0).json();
    assert_eq!(out.corpus, Some(texts.len()));
    let who: Vec<WhoOut> = store.run(&["who", "--input", s(&corpus), "--json"]).json();
    let holds = |name: &str, w: &WhoOut| w.episode.participants.iter().any(|m| m.agent == name);
    for e in &out.edges {
        let both = who.iter().filter(|w| holds(&e.a, w) && holds(&e.b, w)).count();
        let either = who.iter().filter(|w| holds(&e.a, w) || holds(&e.b, w)).count();
        assert_eq!(e.both, Some(both), "{e:?}");
        let want = both as f64 / either.max(1) as f64;
        // serde_json reads floats to within an ulp or so, not bit for bit.
        let close = e.jaccard.is_some_and(|j| (j - want).abs() < 1e-12);
        assert!(close || (either == 0 && e.jaccard.is_none()), "{e:?} want {want}");
    }

    // One agent: only its pairs; an unknown agent is an error naming it.
    let out: OverlapsOut = store.run(&["overlaps", "--agent", "travel", "--json"]).expect(0).json();
    assert!(out.edges.iter().all(|e| e.a == "travel" || e.b == "travel"), "{:?}", out.edges);
    let want = naive.keys().filter(|(a, b)| a == "travel" || b == "travel").count();
    assert_eq!(out.edges.len(), want);
    let err = store.run(&["overlaps", "--agent", "nobody"]);
    assert!(err.code == 2 && err.stderr.contains("nobody"), "{err}");
}
