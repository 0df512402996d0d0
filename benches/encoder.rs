//! Encoder throughput on 2000 CLINC150 training queries, the real model on
//! this machine. Run with `cargo bench --bench encoder`; `BENCH_THREADS` and
//! `BENCH_BATCH` override the threads (0 = ONNX Runtime's default) and the
//! batch size (32).

use bureau::encoder::{Encoder, EncoderConfig};
use std::time::Instant;

#[derive(serde::Deserialize)]
struct Row {
    text: String,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/clinc150/train.jsonl");
    let data = std::fs::read_to_string(path)?;
    let rows: Vec<Row> =
        data.lines().take(2000).map(serde_json::from_str).collect::<Result<_, _>>()?;
    let texts: Vec<&str> = rows.iter().map(|r| r.text.as_str()).collect();
    let mut config = EncoderConfig::from_env();
    let var = |name: &str| std::env::var(name).ok().and_then(|v| v.parse().ok());
    config.threads = var("BENCH_THREADS").unwrap_or(0);
    config.batch_size = var("BENCH_BATCH").unwrap_or(32);
    let mut encoder = Encoder::try_new(&config)?;
    encoder.embed(&texts[..64], &mut |_| {})?;
    let start = Instant::now();
    let out = encoder.embed(&texts, &mut |_| {})?;
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(out.len(), texts.len());
    println!(
        "embedded {} texts in {secs:.2} s: {:.0} sentences/s (threads {}, batch {})",
        texts.len(),
        texts.len() as f64 / secs,
        config.threads,
        config.batch_size
    );
    Ok(())
}
