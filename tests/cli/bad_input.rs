//! Part of the `cli` test binary; shared helpers live in main.rs.

use super::*;

// ---------------------------------------------------------------------------
// 3. Bad input: exit 2, file and line named, nothing of the import stored.

struct BadInput {
    name: &'static str,
    kind: &'static str,
    bytes: Vec<u8>,
    line: usize,
    problem: &'static str,
}

pub(super) fn good_evidence(n: usize) -> String {
    let lines: Vec<_> = (0..n)
        .map(|i| evidence_line(&format!("a fresh travel request number {i}"), "travel", "train"))
        .collect();
    jsonl(&lines)
}

pub(super) fn good_situations(n: usize) -> String {
    let lines: Vec<_> = (0..n)
        .map(|i| serde_json::json!({ "text": format!("a fresh situation number {i}") }))
        .collect();
    jsonl(&lines)
}

fn bad_inputs() -> Vec<BadInput> {
    let ev = |bad: &str| [good_evidence(2).as_bytes(), bad.as_bytes(), b"\n"].concat();
    let sit = |bad: &[u8]| [good_situations(2).as_bytes(), bad, b"\n"].concat();
    vec![
        BadInput {
            name: "empty text",
            kind: "evidence",
            bytes: ev(r#"{"text": "", "agent": "travel", "outcome": "ok", "source": "train"}"#),
            line: 3,
            problem: "text is empty or only whitespace",
        },
        BadInput {
            name: "whitespace-only text",
            kind: "situations",
            bytes: sit(br#"{"text": " \t\n  "}"#),
            line: 3,
            problem: "text is empty or only whitespace",
        },
        BadInput {
            name: "whitespace-only evidence text after a blank line",
            kind: "evidence",
            bytes: [
                good_evidence(2).as_bytes(),
                b"\n",
                br#"{"text": "   ", "agent": "banking", "outcome": "ok"}"#,
            ]
            .concat(),
            line: 4,
            problem: "text is empty or only whitespace",
        },
        BadInput {
            name: "invalid UTF-8",
            kind: "situations",
            bytes: sit(b"{\"text\": \"caf\xe9 \xff\"}"),
            line: 3,
            problem: "not valid UTF-8",
        },
        BadInput {
            name: "invalid UTF-8 in evidence",
            kind: "evidence",
            bytes: ev("{\"text\": \"ok\", \"agent\": \"travel\", \"outcome\": \"ok\"}")
                .into_iter()
                .chain(*b"\xc3\x28\n")
                .collect(),
            line: 4,
            problem: "not valid UTF-8",
        },
        BadInput {
            name: "a JSON array",
            kind: "situations",
            bytes: sit(br#"["text", "book a flight"]"#),
            line: 3,
            problem: "expected a JSON object",
        },
        BadInput {
            name: "a JSON array of agents",
            kind: "agents",
            bytes: br#"{"name": "alpha"}
{"name": "beta"}
[{"name": "gamma"}]
"#
            .to_vec(),
            line: 3,
            problem: "expected a JSON object",
        },
        BadInput {
            name: "no text",
            kind: "evidence",
            bytes: ev(r#"{"agent": "travel", "outcome": "ok", "source": "train"}"#),
            line: 3,
            problem: "missing field `text`",
        },
        BadInput {
            name: "no text in a situation",
            kind: "situations",
            bytes: sit(br#"{"txt": "book a flight"}"#),
            line: 3,
            problem: "missing field `text`",
        },
        BadInput {
            name: "text not a string",
            kind: "situations",
            bytes: sit(br#"{"text": 42}"#),
            line: 3,
            problem: "invalid type",
        },
        BadInput {
            name: "unknown agent",
            kind: "evidence",
            bytes: ev(r#"{"text": "fly me home", "agent": "pilot", "outcome": "ok"}"#),
            line: 3,
            problem: "unknown agent \"pilot\"",
        },
        BadInput {
            name: "outcome maybe",
            kind: "evidence",
            bytes: ev(r#"{"text": "fly me home", "agent": "travel", "outcome": "maybe"}"#),
            line: 3,
            problem: "unknown variant `maybe`",
        },
        BadInput {
            name: "source unknown",
            kind: "evidence",
            bytes: ev(
                r#"{"text": "fly me home", "agent": "travel", "outcome": "ok", "source": "web"}"#,
            ),
            line: 3,
            problem: "unknown variant `web`",
        },
        BadInput {
            name: "misspelt field",
            kind: "evidence",
            bytes: ev(
                r#"{"text": "fly me home", "agent": "travel", "outcome": "ok", "sauce": "train"}"#,
            ),
            line: 3,
            problem: "unknown field `sauce`",
        },
        BadInput {
            name: "duplicate agent names",
            kind: "agents",
            bytes: br#"{"name": "alpha", "mission": "a"}
{"name": "beta", "mission": "b"}
{"name": "alpha", "mission": "again"}
"#
            .to_vec(),
            line: 3,
            problem: "already named on line 1",
        },
        BadInput {
            name: "agent name with spaces at an end",
            kind: "agents",
            bytes: br#"{"name": "alpha"}
{"name": "beta"}
{"name": " beta "}
"#
            .to_vec(),
            line: 3,
            problem: "has whitespace at an end",
        },
        BadInput {
            name: "agent name with a newline",
            kind: "agents",
            bytes: br#"{"name": "alpha"}
{"name": "beta"}
{"name": "gam\nma"}
"#
            .to_vec(),
            line: 3,
            problem: "contains a control character",
        },
        BadInput {
            name: "empty agent name",
            kind: "agents",
            bytes: br#"{"name": "alpha"}
{"name": "beta"}
{"name": "  "}
"#
            .to_vec(),
            line: 3,
            problem: "is empty",
        },
        BadInput {
            name: "broken JSON",
            kind: "agents",
            bytes: br#"{"name": "alpha"}
{"name": "beta"}
{"name": "gamma"
"#
            .to_vec(),
            line: 3,
            problem: "EOF",
        },
        BadInput {
            name: "text over a megabyte",
            kind: "situations",
            bytes: sit(serde_json::json!({ "text": "word ".repeat(210_000) })
                .to_string()
                .as_bytes()),
            line: 3,
            problem: "more than the limit",
        },
    ]
}

#[test]
fn bad_import_lines_are_named_and_store_nothing() {
    let store = Store::fitted();
    let before = store.counts();
    for table in ["agents", "evidence", "situations"] {
        assert!(before[table] > 0, "the fixture has {table}");
    }
    for bad in bad_inputs() {
        let file = format!("bad-{}.jsonl", bad.name.replace(' ', "-"));
        let path = store.file(&file, &bad.bytes);
        let out = store.run(&["import", bad.kind, s(&path)]);
        assert_eq!(out.code, 2, "{}: exit code\n{out}", bad.name);
        assert_eq!(out.stdout, "", "{}: nothing printed on stdout\n{out}", bad.name);
        let at = format!("{file}:{}:", bad.line);
        assert!(out.stderr.contains(&at), "{}: stderr should name {at}\n{out}", bad.name);
        assert!(
            out.stderr.contains(bad.problem),
            "{}: stderr should say {:?}\n{out}",
            bad.name,
            bad.problem
        );
        assert_eq!(store.counts(), before, "{}: nothing of the import is stored", bad.name);
    }
    // The same good rows without the bad one import fine, so the bad row,
    // not the good ones, was what stopped the imports above.
    let good = store.file("good.jsonl", good_evidence(2));
    store.run(&["import", "evidence", s(&good)]).expect(0);
    let after = store.counts();
    assert_eq!(after["evidence"], before["evidence"] + 2);
    assert_eq!(after["situations"], before["situations"] + 2);
}

#[test]
fn bad_who_input_line_is_named() {
    let store = Store::fitted();
    let path =
        store.file("who.jsonl", [good_situations(2).as_bytes(), b"{\"text\": \"\"}\n"].concat());
    let out = store.run(&["who", "--input", s(&path)]);
    out.expect(2);
    assert_eq!(out.stdout, "");
    assert!(out.stderr.contains("who.jsonl:3:") && out.stderr.contains("empty"), "{out}");
    let out = store.run(&["embed", "--input", s(&path), "--json"]);
    out.expect(2);
    assert_eq!(out.stdout, "", "no partial output");
    assert!(out.stderr.contains("who.jsonl:3:"), "{out}");
    let missing = store.dir.path().join("missing.jsonl");
    let out = store.run(&["import", "situations", s(&missing)]);
    out.expect(2);
    assert!(out.stderr.contains("missing.jsonl"), "{out}");
}

// ---------------------------------------------------------------------------
// 4. Missing model and runtime.

#[test]
fn missing_model_dir_or_runtime_is_an_error_naming_the_path() {
    let store = Store::fitted();
    let input = store.file("in.jsonl", good_situations(2));
    let evidence = store.file("ev.jsonl", good_evidence(2));
    let before = store.counts();
    let cases = [("--model-dir", "/nonexistent"), ("--ort-lib", "/nonexistent/libonnxruntime.so")];
    for (flag, path) in cases {
        let runs = [
            run(&["embed", "--input", s(&input), "--json", flag, path]),
            store.run(&["import", "evidence", s(&evidence), flag, path]),
            store.run(&["who", "book a flight", flag, path]),
        ];
        for out in runs {
            assert_eq!(out.code, 2, "{flag} {path}\n{out}");
            assert_eq!(out.stdout, "", "{out}");
            assert!(out.stderr.contains(path), "{flag}: stderr should name {path}\n{out}");
        }
    }
    // The environment variables work the same way.
    let mut cmd = command(&["embed", "--input", s(&input)]);
    cmd.env("BUREAU_MODEL_DIR", "/nonexistent/model-dir");
    let out = run_command(cmd);
    out.expect(2);
    assert!(out.stderr.contains("/nonexistent/model-dir"), "{out}");
    assert_eq!(store.counts(), before, "nothing imported without an encoder");
}
