//! Part of the `cli` test binary; shared helpers live in main.rs.

use super::bad_input::{good_evidence, good_situations};
use super::*;

// ---------------------------------------------------------------------------
// 5. Newer schema, corrupt store, missing store.

#[test]
fn newer_schema_is_refused_by_every_command_and_left_untouched() {
    let store = Store::fitted();
    Connection::open(&store.db)
        .and_then(|c| c.pragma_update(None, "user_version", 99))
        .expect("set user_version");
    let bytes = std::fs::read(&store.db).expect("read store");
    let agents = store.file("agents.jsonl", "{\"name\": \"alpha\"}\n");
    let evidence = store.file("ev.jsonl", good_evidence(2));
    let situations = store.file("sit.jsonl", good_situations(2));
    let commands: [&[&str]; 8] = [
        &["init"],
        &["agents", "--json"],
        &["fit"],
        &["who", "book a flight"],
        &["import", "agents", s(&agents)],
        &["import", "evidence", s(&evidence)],
        &["import", "situations", s(&situations)],
        &["demo", "--demo-db", s(&store.db)],
    ];
    for args in commands {
        let out = store.run(args);
        assert_eq!(out.code, 2, "{args:?}\n{out}");
        assert!(out.stderr.contains("schema version 99"), "{args:?}\n{out}");
        assert!(out.stderr.contains(s(&store.db)), "{args:?}: the store is named\n{out}");
        assert!(std::fs::read(&store.db).expect("read") == bytes, "{args:?} changed the store");
    }
}

/// Deterministic garbage: no SQLite header, no structure.
fn garbage(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

#[test]
fn corrupt_store_is_refused_and_left_unchanged() {
    let headed = [b"SQLite format 3\0".as_slice(), &garbage(8176)].concat();
    for (name, bytes) in [("garbage.db", garbage(8192)), ("headed.db", headed)] {
        let dir = TempDir::new().expect("temp dir");
        let db = dir.path().join(name);
        std::fs::write(&db, &bytes).expect("write garbage");
        let agents = dir.path().join("agents.jsonl");
        std::fs::write(&agents, "{\"name\": \"alpha\"}\n").expect("write agents");
        let commands: [&[&str]; 5] = [
            &["init"],
            &["agents"],
            &["fit"],
            &["who", "book a flight"],
            &["import", "agents", s(&agents)],
        ];
        for args in commands {
            let mut all = vec!["--db", s(&db)];
            all.extend_from_slice(args);
            let out = run(&all);
            assert_eq!(out.code, 2, "{name} {args:?}\n{out}");
            let said = out.stderr.contains("is not a bureau store or is corrupt");
            assert!(said && out.stderr.contains(name), "{name} {args:?}\n{out}");
            assert!(std::fs::read(&db).expect("read") == bytes, "{name} {args:?} changed the file");
        }
        let mut left: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list dir")
            .map(|e| e.expect("entry").file_name().into_string().expect("UTF-8 name"))
            .collect();
        left.sort();
        assert_eq!(left, ["agents.jsonl", name], "no journal or other file left behind");
    }
}

/// A store whose header is intact but one page in the middle is garbage:
/// the first write runs SQLite's quick check and refuses it, untouched.
#[test]
fn damaged_pages_are_refused_before_any_write() {
    let store = Store::fitted();
    let mut bytes = std::fs::read(&store.db).expect("read store");
    let page = 4096;
    assert!(bytes.len() >= 8 * page, "the fixture store has pages to damage");
    let middle = (bytes.len() / page / 2) * page;
    bytes[middle..middle + page].copy_from_slice(&garbage(page));
    std::fs::write(&store.db, &bytes).expect("damage a page");
    let agents = store.file("agents.jsonl", "{\"name\": \"alpha\"}\n");
    for args in [&["import", "agents", s(&agents)][..], &["fit"]] {
        let out = store.run(args);
        out.expect(2);
        assert!(out.stderr.contains("is not a bureau store or is corrupt"), "{args:?}\n{out}");
        assert!(std::fs::read(&store.db).expect("read") == bytes, "{args:?} changed the file");
    }
}

#[test]
fn missing_store_is_an_error_and_not_created() {
    let dir = TempDir::new().expect("temp dir");
    let db = dir.path().join("none.db");
    for args in [&["agents"][..], &["fit"], &["who", "book a flight"]] {
        let mut all = vec!["--db", s(&db)];
        all.extend_from_slice(args);
        let out = run(&all);
        out.expect(2);
        assert!(out.stderr.contains("bureau init") && out.stderr.contains("none.db"), "{out}");
        assert!(!db.exists(), "{args:?} created the store");
    }
    // BUREAU_DB names the store when --db is absent.
    let mut cmd = command(&["init", "--json"]);
    cmd.env("BUREAU_DB", &db);
    let out = run_command(cmd);
    let init: InitOut = out.expect(0).json();
    assert_eq!(init.db, db);
    assert!(db.exists());
}

// ---------------------------------------------------------------------------
// 6. Another model's store.

#[test]
fn store_of_another_model_refuses_new_embeddings_naming_both_models() {
    let store = Store::fitted();
    let ours = &fixture().model_id;
    assert!(ours.contains('@'), "model id {ours}");
    Connection::open(&store.db)
        .and_then(|c| c.execute("UPDATE meta SET value = 'other@000' WHERE key = 'model_id'", []))
        .expect("claim another model");
    let before = store.counts();
    let evidence = store.file("ev.jsonl", good_evidence(3));
    let situations = store.file("sit.jsonl", good_situations(3));
    let runs = [
        store.run(&["import", "evidence", s(&evidence)]),
        store.run(&["import", "situations", s(&situations)]),
        store.run(&["who", "book a flight"]),
    ];
    for out in runs {
        out.expect(2);
        assert!(out.stderr.contains("other@000") && out.stderr.contains(ours.as_str()), "{out}");
    }
    assert_eq!(store.counts(), before, "nothing of another model is stored");
}

// ---------------------------------------------------------------------------
// 7. who without a fit, who on empty text.

#[test]
fn who_without_fit_finds_nobody_and_empty_text_is_an_error() {
    let store = Store::unfitted();
    assert_eq!(store.counts()["fits"], 0);
    let out = store.run(&["who", "book me a flight to paris", "--json"]);
    let rows: Vec<WhoOut> = out.expect(1).json();
    assert_eq!(rows.len(), 1);
    assert!(rows[0].episode.participants.is_empty(), "{out}");
    assert_eq!(rows[0].episode.cover, 0);
    assert!(rows[0].episode.under_covered, "cover 0 is below the default minimum of 1");
    assert!(out.stderr.contains("bureau fit"), "a warning says to fit\n{out}");

    let agents: Vec<AgentOut> = store.run(&["agents", "--json"]).expect(0).json();
    assert_eq!(agents.len(), 3);
    assert!(agents.iter().all(|a| a.fit.is_none() && a.prototypes == 0), "{agents:?}");

    for text in ["  ", "", "\t\n"] {
        let out = store.run(&["who", text]);
        assert_eq!(out.code, 2, "{text:?}\n{out}");
        assert!(out.stderr.contains("empty"), "{text:?}\n{out}");
    }
    // An empty store (no agents at all) also finds nobody.
    let dir = TempDir::new().expect("temp dir");
    let db = dir.path().join("empty.db");
    run(&["--db", s(&db), "init"]).expect(0);
    let rows: Vec<WhoOut> =
        run(&["--db", s(&db), "who", "book a flight", "--json"]).expect(1).json();
    assert!(rows[0].episode.participants.is_empty());
}

// ---------------------------------------------------------------------------
// 8. Truncation is logged.

#[test]
fn text_over_256_tokens_is_embedded_with_a_truncation_warning() {
    let dir = TempDir::new().expect("temp dir");
    let words = ["flight", "hotel", "paris", "booking", "tomorrow"];
    let long: Vec<&str> = (0..400).map(|i| words[i % words.len()]).collect();
    let long = long.join(" ");
    let input = dir.path().join("long.jsonl");
    let lines = [serde_json::json!({ "text": "short one" }), serde_json::json!({ "text": long })];
    std::fs::write(&input, jsonl(&lines)).expect("write");
    let out = run(&["embed", "--input", s(&input), "--json"]);
    out.expect(0);
    assert!(out.stderr.contains("truncated"), "{out}");
    assert!(out.stderr.contains("WARN"), "logged at warn level\n{out}");
    let rows: Vec<EmbedOut> =
        out.stdout.lines().map(|l| serde_json::from_str(l).expect("row")).collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1].text, long);
    assert_eq!(rows[1].embedding.len(), DIM);
    assert!((norm(&rows[1].embedding) - 1.0).abs() < 1e-3);
}

// ---------------------------------------------------------------------------
// 9. The demo (slow: embeds all of CLINC150).
