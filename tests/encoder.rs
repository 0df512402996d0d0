//! Integration tests of the sentence encoder against the real int8 model.
//!
//! The reference vectors in `tests/data/reference-all-MiniLM-L6-v2.jsonl`
//! come from sentence-transformers 6.3 running the FP32 all-MiniLM-L6-v2
//! (see `tests/data/reference-README.md`). The int8 model is expected to
//! reach a cosine of at least 0.9966 on every row; the floor asserted here is
//! 0.995, leaving room for ONNX Runtime versions, not for a pipeline bug.

use std::path::PathBuf;

use bureau::encoder::{Encoder, EncoderConfig, EncoderError};

/// Lowest cosine to the reference accepted for any row.
const MIN_COSINE: f32 = 0.995;

#[derive(serde::Deserialize)]
struct Reference {
    text: String,
    embedding: Vec<f32>,
}

fn repo_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn encoder() -> Encoder {
    match Encoder::try_new(&EncoderConfig::from_env()) {
        Ok(e) => e,
        Err(e) => panic!("encoder from default config: {e} ({e:?})"),
    }
}

fn embed(encoder: &mut Encoder, texts: &[&str]) -> Vec<Vec<f32>> {
    match encoder.embed(texts, &mut |_| {}) {
        Ok(v) => v,
        Err(e) => panic!("embed {} texts: {e} ({e:?})", texts.len()),
    }
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}

fn references() -> Vec<Reference> {
    let path = repo_path("tests/data/reference-all-MiniLM-L6-v2.jsonl");
    let text = std::fs::read_to_string(&path).expect("reference file is committed");
    text.lines().map(|l| serde_json::from_str(l).expect("reference rows are valid json")).collect()
}

#[test]
fn matches_reference_embeddings() {
    let refs = references();
    assert_eq!(refs.len(), 272);
    let texts: Vec<&str> = refs.iter().map(|r| r.text.as_str()).collect();
    let mut enc = encoder();
    assert_eq!(enc.dim(), 384);

    let mut calls = Vec::new();
    let got = match enc.embed(&texts, &mut |n| calls.push(n)) {
        Ok(v) => v,
        Err(e) => panic!("embed references: {e} ({e:?})"),
    };
    assert_eq!(got.len(), refs.len());
    assert_eq!(calls.len(), refs.len().div_ceil(32), "one progress call per batch");
    assert_eq!(calls.last(), Some(&refs.len()));

    let mut cosines: Vec<(f32, usize)> =
        (0..refs.len()).map(|i| (cosine(&got[i], &refs[i].embedding), i)).collect();
    cosines.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (min, worst) = cosines[0];
    let median = cosines[cosines.len() / 2].0;
    println!("cosine to reference: min {min:.5} (row {worst}), median {median:.5}");
    assert!(
        min >= MIN_COSINE,
        "min cosine {min:.5} < {MIN_COSINE} at row {worst} ({:?}); median {median:.5}",
        refs[worst].text
    );

    for (i, v) in got.iter().enumerate() {
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "row {i} has norm {norm}");
    }
}

#[test]
fn keeps_input_order_across_mixed_lengths() {
    // Lengths deliberately out of order so sorting by token count reorders
    // them, with a batch size that splits them across batches.
    let long = "word ".repeat(150);
    let texts = [
        "hi",
        long.as_str(),
        "what is the capital of france",
        "x",
        "please book a table for two at seven tonight at the italian place",
    ];
    let mut config = EncoderConfig::from_env();
    config.batch_size = 2;
    let mut enc = Encoder::try_new(&config).expect("encoder from default config");
    let together = embed(&mut enc, &texts);

    // Each vector must be closest to the same text embedded alone. Batch
    // neighbours shift int8 activations a little, so equality is not exact.
    let alone: Vec<Vec<f32>> = texts.iter().map(|t| embed(&mut enc, &[t]).remove(0)).collect();
    for (i, v) in together.iter().enumerate() {
        let sims: Vec<f32> = alone.iter().map(|a| cosine(v, a)).collect();
        let best = (0..sims.len()).max_by(|&a, &b| sims[a].total_cmp(&sims[b]));
        assert_eq!(best, Some(i), "text {i} moved; cosines {sims:?}");
        assert!(sims[i] > 0.99, "text {i}: batched vs alone cosine {}", sims[i]);
    }
}

#[test]
fn truncates_long_text_at_max_tokens() {
    let words = ["river", "mountain", "quiet", "engine", "harbour"];
    let text: String = (0..400).map(|i| words[i % words.len()]).collect::<Vec<_>>().join(" ");
    let longer = format!("{text} and then a completely different ending about tax law");
    let mut enc = encoder();
    let a = embed(&mut enc, &[&text]).remove(0);
    let b = embed(&mut enc, &[&longer]).remove(0);
    let c = cosine(&a, &b);
    assert!(c > 0.9999, "words past 256 tokens changed the embedding: cosine {c}");
}

#[test]
fn model_id_names_dir_and_hash() {
    let enc = encoder();
    assert_eq!(enc.model_id(), "all-MiniLM-L6-v2-int8@8199be6f699a");
}

#[test]
fn rejects_empty_and_whitespace_text() {
    let mut enc = encoder();
    let err = enc.embed(&["fine", ""], &mut |_| {});
    assert!(matches!(err, Err(EncoderError::EmptyText { index: 1 })), "{err:?}");
    let err = enc.embed(&[" \t\n "], &mut |_| {});
    assert!(matches!(err, Err(EncoderError::EmptyText { index: 0 })), "{err:?}");
    assert_eq!(embed(&mut enc, &[]).len(), 0);
}

#[test]
fn missing_model_dir_is_named() {
    let mut config = EncoderConfig::from_env();
    config.model_dir = repo_path("models/no-such-model");
    let err = Encoder::try_new(&config).expect_err("missing dir must fail");
    assert!(matches!(&err, EncoderError::ModelDirNotFound { path } if *path == config.model_dir));
    assert!(err.to_string().contains("models/no-such-model"), "{err}");
}

#[test]
fn missing_model_file_is_named() {
    let dir = tempfile::tempdir().expect("temp dir");
    let tokenizer = repo_path("models/all-MiniLM-L6-v2-int8/tokenizer.json");
    std::fs::copy(tokenizer, dir.path().join("tokenizer.json")).expect("copy tokenizer");
    let mut config = EncoderConfig::from_env();
    config.model_dir = dir.path().to_path_buf();
    let err = Encoder::try_new(&config).expect_err("missing model.onnx must fail");
    let expected = dir.path().join("model.onnx");
    assert!(
        matches!(&err, EncoderError::ModelFileNotFound { path } if *path == expected),
        "{err:?}"
    );
}

#[test]
fn missing_runtime_lib_is_named() {
    // Checked before ort is called, so this holds whether or not another
    // test in this process already loaded the real runtime.
    let mut config = EncoderConfig::from_env();
    config.runtime_lib = repo_path("models/onnxruntime/libonnxruntime.so.0.0.0");
    let err = Encoder::try_new(&config).expect_err("missing runtime must fail");
    assert!(matches!(&err, EncoderError::RuntimeNotFound { path } if *path == config.runtime_lib));
    assert!(err.to_string().contains("libonnxruntime.so.0.0.0"), "{err}");
}

#[test]
fn rejects_zero_batch_size() {
    let mut config = EncoderConfig::from_env();
    config.batch_size = 0;
    let err = Encoder::try_new(&config).expect_err("zero batch size must fail");
    assert!(matches!(err, EncoderError::Setting { name: "batch_size", .. }), "{err:?}");
}
