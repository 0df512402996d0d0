//! `bureau overlaps`: the overlap graph of the bureau's scopes.

use super::args::Global;
use anyhow::Result;
use bureau::overlaps::{overlaps, OverlapReport};
use bureau::scopes::Bureau;
use std::path::PathBuf;

/// Options of `overlaps`.
#[derive(Debug, clap::Args)]
pub struct OverlapsArgs {
    /// Only the pairs that include this agent.
    #[arg(long)]
    pub agent: Option<String>,
    /// JSONL corpus of situations ({"text"} per line): adds the share of
    /// situations both scopes of each pair hold (Jaccard).
    #[arg(long)]
    pub corpus: Option<PathBuf>,
}

/// Runs `overlaps`; finds something when at least one pair overlaps.
pub fn run(g: &Global, args: &OverlapsArgs) -> Result<bool> {
    let store = super::open(g)?;
    let bureau = Bureau::load(&store)?;
    let vectors = match &args.corpus {
        Some(path) => {
            let texts = super::read_texts(path)?;
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            let bar = super::bar(g);
            let mut encoder = super::encoder(g)?;
            let v = bureau::embed::embed_cached(&store, &mut encoder, &refs, &super::tick(&bar))?;
            bar.finish_and_clear();
            Some(v)
        }
        None => None,
    };
    let report = overlaps(&bureau, args.agent.as_deref(), vectors.as_deref())?;
    render(g.json, &report)?;
    Ok(!report.edges.is_empty())
}

fn render(json: bool, r: &OverlapReport) -> Result<()> {
    if json {
        out!("{}", serde_json::to_string_pretty(r)?);
        return Ok(());
    }
    out!("{:<24} {:<24} {:>7} {:>6} {:>8}", "agent", "agent", "depth", "pairs", "jaccard");
    for e in &r.edges {
        let jaccard = e.jaccard.map_or("-".to_owned(), |j| format!("{j:.3}"));
        out!("{:<24} {:<24} {:>7.3} {:>6} {jaccard:>8}", e.a, e.b, e.depth, e.pairs);
    }
    for (i, g) in r.groups.iter().enumerate() {
        out!("group {}: {}", i + 1, g.join(", "));
    }
    let alone = if r.alone.is_empty() { "-".to_owned() } else { r.alone.join(", ") };
    out!("overlapping nobody: {alone}");
    Ok(())
}
