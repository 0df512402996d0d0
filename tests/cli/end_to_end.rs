//! Part of the `cli` test binary; shared helpers live in main.rs.

use super::*;

// ---------------------------------------------------------------------------
// 1. End to end.

#[test]
fn fitted_store_names_travel_for_a_flight_and_each_domain_for_its_own_rows() {
    let store = Store::fitted();

    let out = store.run(&["who", "book me a flight to paris and a hotel", "--json"]);
    let rows: Vec<WhoOut> = out.expect(0).json();
    assert_eq!(rows.len(), 1, "{out}");
    assert_eq!(rows[0].text, "book me a flight to paris and a hotel");
    let e = &rows[0].episode;
    assert!(who_agents(e).contains(&"travel"), "travel should join: {e:?}");
    assert_episode_is_consistent(e);

    // 30 held-out test rows, 10 per domain, in one batch.
    let test = clinc("test");
    let mut expected = Vec::new();
    let mut lines = String::new();
    for d in DOMAINS {
        for t in spread(&test, d, 10) {
            lines.push_str(&format!("{}\n", serde_json::json!({ "text": t })));
            expected.push((t, d));
        }
    }
    let input = store.file("held-out.jsonl", lines);
    let out = store.run(&["who", "--input", s(&input), "--json"]);
    let rows: Vec<WhoOut> = out.expect(0).json();
    assert_eq!(rows.len(), expected.len(), "one episode per input line");
    let mut own = 0;
    for (row, (text, domain)) in rows.iter().zip(&expected) {
        assert_eq!(&row.text, text, "episodes come back in input order");
        assert_episode_is_consistent(&row.episode);
        own += usize::from(who_agents(&row.episode).contains(domain));
    }
    assert!(
        own * 10 >= expected.len() * 8,
        "only {own} of {} rows got their own domain",
        rows.len()
    );

    let out = store.run(&["agents", "--json"]);
    let agents: Vec<AgentOut> = out.expect(0).json();
    let names: Vec<&str> = agents.iter().map(|a| a.agent.name.as_str()).collect();
    assert_eq!(names, DOMAINS, "agents in insertion order");
    for a in &agents {
        assert!(a.agent.id > 0);
        assert_eq!(a.agent.mission, format!("handles {} requests", a.agent.name));
        let fit = a.fit.as_ref().unwrap_or_else(|| panic!("{} has no fit", a.agent.name));
        assert!(fit.k >= 1 && a.prototypes >= 1, "{a:?}");
        assert!(a.prototypes <= fit.k, "{a:?}");
        let lambda =
            fit.lambda.unwrap_or_else(|| panic!("{} has no lambda: {fit:?}", a.agent.name));
        assert!(lambda.is_finite() && lambda > 0.0, "{fit:?}");
        assert_eq!(fit.model_id, fixture().model_id);
    }
}

fn assert_episode_is_consistent(e: &Episode) {
    for pair in e.participants.windows(2) {
        assert!(pair[0].depth >= pair[1].depth, "participants deepest first: {e:?}");
    }
    for m in &e.participants {
        assert!(m.depth >= 0.0 && m.angle.is_finite() && m.angle >= 0.0, "{e:?}");
    }
    for m in &e.near_misses {
        assert!(m.depth < 0.0, "a near miss lies outside its scope: {e:?}");
    }
    assert_eq!(e.cover, e.participants.len(), "{e:?}");
    assert!(!e.under_covered || e.cover == 0, "{e:?}");
}

#[test]
fn fit_json_reports_every_agent_and_refits_one_agent_alone() {
    let store = Store::fitted();
    let out = store.run(&["fit", "--json"]);
    let fits: Vec<FitOut> = out.expect(0).json();
    let names: Vec<&str> = fits.iter().map(|f| f.agent.as_str()).collect();
    assert_eq!(names, DOMAINS);
    for f in &fits {
        let r = &f.fit;
        assert_eq!(r.method, "coverage");
        assert_eq!(r.alpha, Some(0.05));
        assert_eq!((r.epsilon, r.delta, r.bound), (None, None, None));
        assert_eq!((r.n_fit, r.n_calibration), (60, 20), "{f:?}");
        assert!(r.k >= 1 && r.lambda.is_some() && r.reason.is_none(), "{f:?}");
        assert_eq!(r.seed, 17);
        assert_eq!(r.model_id, fixture().model_id);
        for c in &r.k_candidates {
            assert!(c.k >= 1 && c.spread_quantile > 0.0 && c.spread_quantile < 1.0, "{c:?}");
            assert!((0.0..=1.0).contains(&c.outside_claimed), "{c:?}");
        }
    }
    // Each fit retires the previous one: one active fit per agent.
    let active: i64 = store.sql("SELECT COUNT(*) FROM fits WHERE active = 1");
    assert_eq!(active, 3);

    let fits: Vec<FitOut> = store.run(&["fit", "--agent", "banking", "--json"]).expect(0).json();
    assert_eq!(fits.len(), 1);
    assert_eq!(fits[0].agent, "banking");

    let before = store.counts();
    let out = store.run(&["fit", "--agent", "nobody"]);
    out.expect(2);
    assert!(out.stderr.contains("nobody"), "{out}");
    let out = store.run(&["fit", "--alpha", "1.5"]);
    out.expect(2);
    assert!(out.stderr.contains("--alpha"), "{out}");
    assert_eq!(store.counts(), before, "a refused fit stores nothing");
}

/// Flags out of range are usage errors naming the flag, before any work.
#[test]
fn out_of_range_flags_exit_2_naming_the_flag() {
    let store = Store::fitted();
    let corpus = store.file("corpus.jsonl", "{\"text\": \"book a flight\"}\n");
    let cases: [(&[&str], &str); 9] = [
        (&["gaps", "--corpus", s(&corpus), "--min-cover", "0"], "--min-cover"),
        (&["gaps", "--corpus", s(&corpus), "--min-points", "0"], "--min-points"),
        (&["gaps", "--corpus", s(&corpus), "--eps", "nan"], "--eps"),
        (&["gaps", "--corpus", s(&corpus), "--eps=-1"], "--eps"),
        (&["gaps", "--corpus", s(&corpus), "--eps-quantile", "2"], "--eps-quantile"),
        (&["who", "book a flight", "--max", "0"], "--max"),
        (&["bench", "membership", "--prototypes", "0"], "--prototypes"),
        (&["bench", "membership", "--queries", "0"], "--queries"),
        (&["bench", "membership", "--bands", "0"], "--bands"),
    ];
    let before = store.counts();
    for (args, flag) in cases {
        let out = store.run(args);
        out.expect(2);
        assert!(out.stderr.contains(flag), "{args:?}\n{out}");
    }
    assert_eq!(store.counts(), before);
}

// ---------------------------------------------------------------------------
// 2. embed.

#[test]
fn embed_prints_one_unit_vector_per_line_in_input_order() {
    let dir = TempDir::new().expect("temp dir");
    let mut texts: Vec<String> = spread(&clinc("val"), "travel", 20);
    texts.extend(spread(&clinc("val"), "banking", 20));
    texts.extend(
        [
            "book a flight",
            "reserve a plane ticket",
            "what is the balance of my checking account",
            "x",
            "?!",
            "café crème, s'il vous plaît",
            "東京への航空券を予約して",
            "забронируй отель",
            "pizza 🍕 tonight",
            "tab\tand\nnewline",
            "a \"quoted\" word and a \\ backslash",
            "book a flight",
        ]
        .map(str::to_owned),
    );
    // Long and short mixed, more than one batch of 32: input order must
    // survive the encoder's sorting by length.
    texts.push("please ".repeat(40) + "help me find my luggage");
    let write = |name: &str, texts: &[String]| {
        let path = dir.path().join(name);
        let lines: Vec<_> = texts.iter().map(|t| serde_json::json!({ "text": t })).collect();
        std::fs::write(&path, jsonl(&lines)).expect("write input");
        path
    };
    let embed = |path: &Path| -> Vec<EmbedOut> {
        let out = run(&["embed", "--input", s(path), "--json"]);
        out.expect(0);
        assert_eq!(out.stderr, "", "no warnings on ordinary texts\n{out}");
        out.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    };

    let forward = embed(&write("forward.jsonl", &texts));
    assert_eq!(forward.len(), texts.len(), "one output line per input line");
    for (row, text) in forward.iter().zip(&texts) {
        assert_eq!(&row.text, text, "same texts, same order");
        assert_eq!(row.embedding.len(), DIM, "{text:?}");
        assert!(row.embedding.iter().all(|x| x.is_finite()), "{text:?}");
        assert!(
            (norm(&row.embedding) - 1.0).abs() < 1e-3,
            "{text:?} norm {}",
            norm(&row.embedding)
        );
    }

    // The same texts reversed give the same vectors, reversed.
    let mut reversed_texts = texts.clone();
    reversed_texts.reverse();
    let reversed = embed(&write("reversed.jsonl", &reversed_texts));
    assert_eq!(reversed.len(), texts.len());
    for (f, r) in forward.iter().zip(reversed.iter().rev()) {
        assert_eq!(f.text, r.text);
        let c = cosine(&f.embedding, &r.embedding);
        assert!(c > 0.9999, "{:?}: cosine {c} between runs", f.text);
    }

    // Meaning, not just shape: each vector belongs to its own text.
    let at = |t: &str| &forward[texts.iter().position(|x| x == t).expect("text present")].embedding;
    let flight = at("book a flight");
    let ticket = at("reserve a plane ticket");
    let balance = at("what is the balance of my checking account");
    assert!(cosine(flight, ticket) > cosine(flight, balance) + 0.1, "flight ~ ticket");
    let dup = texts.iter().rposition(|x| x == "book a flight").expect("duplicate");
    assert!(cosine(flight, &forward[dup].embedding) > 0.9999, "same text, same vector");
    let distinct = forward.windows(2).filter(|w| w[0].text != w[1].text);
    for w in distinct {
        assert!(
            cosine(&w[0].embedding, &w[1].embedding) < 0.9999,
            "{:?} vs {:?}",
            w[0].text,
            w[1].text
        );
    }
}

#[test]
fn output_cut_short_by_its_reader_ends_quietly() {
    // `bureau embed ... | head -1`: the reader leaves before bureau writes.
    let dir = TempDir::new().expect("temp dir");
    let lines: Vec<_> = spread(&clinc("val"), "travel", 40)
        .iter()
        .map(|t| serde_json::json!({ "text": t }))
        .collect();
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, jsonl(&lines)).expect("write input");
    let mut child = command(&["embed", "--input", s(&input), "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the bureau binary runs");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("bureau ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
