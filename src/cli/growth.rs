//! Growing the bureau: `gaps`, `bridges` and `episode`, with their
//! arguments and output. JSON shapes are documented on each render function.

use super::args::Global;
use super::parse::{angle, at_least_one, fraction};
use super::{bar, encoder, open, tick};
use anyhow::{bail, Result};
use bureau::bridges::{bridges, BridgeReport};
use bureau::episodes::{record_episodes, record_outcomes, RecordedEpisode};
use bureau::gaps::{draft_name, find_gaps, save_drafts, GapOptions, GapReport, Region};
use bureau::import::{store_texts, SituationLine};
use bureau::input::{check_text, read_jsonl};
use bureau::scopes::Bureau;
use bureau::store::Store;
use clap::Args;
use serde_json::json;
use std::path::{Path, PathBuf};

/// `bureau gaps`.
#[derive(Debug, Args)]
pub struct GapsArgs {
    /// JSONL corpus of situations, one {"text"} per line.
    #[arg(long)]
    pub corpus: PathBuf,
    /// Situations held by fewer scopes are under-covered.
    #[arg(long, default_value_t = 1, value_parser = at_least_one)]
    pub min_cover: usize,
    /// DBSCAN core size: situations within eps that make a region.
    #[arg(long, default_value_t = GapOptions::default().min_points, value_parser = at_least_one)]
    pub min_points: usize,
    /// DBSCAN angular tolerance in radians [default: the median angle from
    /// a corpus situation to its min-points-th nearest neighbour].
    #[arg(long, value_parser = angle)]
    pub eps: Option<f32>,
    /// Quantile of the angles to the min-points-th nearest corpus neighbour
    /// that gives eps when --eps is not given.
    #[arg(long, default_value_t = GapOptions::default().eps_quantile, value_parser = fraction)]
    pub eps_quantile: f64,
    /// Exemplar texts shown per region.
    #[arg(long, default_value_t = GapOptions::default().exemplars, value_parser = at_least_one)]
    pub exemplars: usize,
    /// Save each region as a draft agent `draft-gap-<id>` whose scope is the
    /// region's cap.
    #[arg(long)]
    pub save_drafts: bool,
    /// Leave this agent out, as if retired (repeatable): its scope covers
    /// nothing. The store is not changed.
    #[arg(long, value_name = "AGENT")]
    pub without: Vec<String>,
}

/// `bureau bridges`.
#[derive(Debug, Args)]
pub struct BridgesArgs {
    /// The new agent (it must have a scope, e.g. a saved gap draft).
    #[arg(long)]
    pub agent: String,
    /// JSONL pool of candidate situations, one {"text"} per line.
    #[arg(long)]
    pub corpus: PathBuf,
    /// Most bridges (or stepping stones) to choose.
    #[arg(long, default_value_t = 10)]
    pub budget: usize,
}

/// `bureau episode`.
#[derive(Debug, Args)]
pub struct EpisodeArgs {
    /// The situation's text.
    #[arg(conflicts_with_all = ["input", "outcomes"])]
    pub text: Option<String>,
    /// JSONL file of situations, one {"text"} per line: records an episode
    /// on each.
    #[arg(long, conflicts_with = "outcomes")]
    pub input: Option<PathBuf>,
    /// JSONL file of outcomes, {"episode": id, "agent": name, "outcome":
    /// "ok"|"fail"}: stores them as `episode` evidence.
    #[arg(long)]
    pub outcomes: Option<PathBuf>,
}

/// A corpus: its texts and their 1-based line numbers.
struct Corpus {
    texts: Vec<String>,
    lines: Vec<usize>,
}

fn read_corpus(path: &Path) -> Result<Corpus> {
    let rows = read_jsonl::<SituationLine>(path)?;
    for r in &rows {
        check_text(path, r.line, &r.value.text)?;
    }
    let lines = rows.iter().map(|r| r.line).collect();
    Ok(Corpus { texts: rows.into_iter().map(|r| r.value.text).collect(), lines })
}

/// Stores the corpus's situations (embedding only new texts) and returns
/// their embeddings in order.
fn embed_corpus(g: &Global, store: &mut Store, corpus: &Corpus) -> Result<Vec<Vec<f32>>> {
    let refs: Vec<&str> = corpus.texts.iter().map(String::as_str).collect();
    let mut encoder = encoder(g)?;
    let bar = bar(g);
    store_texts(store, &mut encoder, &refs, &tick(&bar))?;
    let vectors = bureau::embed::embed_cached(store, &mut encoder, &refs, &tick(&bar))?;
    bar.finish_and_clear();
    Ok(vectors)
}

/// Runs `bureau gaps`; found when at least one region exists.
pub fn gaps(g: &Global, args: &GapsArgs) -> Result<bool> {
    let corpus = read_corpus(&args.corpus)?;
    let mut store = open(g)?;
    let bureau = Bureau::load_without(&store, &args.without)?;
    let vectors = embed_corpus(g, &mut store, &corpus)?;
    let options = GapOptions {
        min_cover: args.min_cover,
        min_points: args.min_points,
        eps: args.eps,
        eps_quantile: args.eps_quantile,
        exemplars: args.exemplars,
        ..GapOptions::default()
    };
    let report = find_gaps(&bureau, &vectors, &options)?;
    let drafts = if args.save_drafts {
        save_drafts(&mut store, &report.regions, |r| format!("{:?}", corpus.texts[r.members[0]]))?
    } else {
        vec![]
    };
    render_gaps(g.json, &corpus, &report, &drafts)?;
    Ok(!report.regions.is_empty())
}

/// JSON: `{"situations", "cover": {"<cover>": n}, "under_covered", "noise",
/// "eps", "min_points", "min_cover", "regions": [{"id", "size", "radius",
/// "centre": [f32], "lines": [line], "exemplars": [{"line", "text"}],
/// "nearest_agents": [{"agent", "stretch"}], "draft": name|null}]}`;
/// `lines` lists every member's corpus line, nearest the centre first.
fn render_gaps(json: bool, corpus: &Corpus, r: &GapReport, drafts: &[String]) -> Result<()> {
    let exemplars = |region: &Region| -> Vec<serde_json::Value> {
        let near = region.members.iter().take(r.options.exemplars);
        near.map(|&i| json!({ "line": corpus.lines[i], "text": corpus.texts[i] })).collect()
    };
    if json {
        let regions: Vec<_> = r
            .regions
            .iter()
            .map(|region| {
                json!({
                    "id": region.id, "size": region.size, "radius": region.radius,
                    "centre": region.centre,
                    "lines": region.members.iter().map(|&i| corpus.lines[i]).collect::<Vec<_>>(),
                    "exemplars": exemplars(region),
                    "nearest_agents": region.nearest_agents,
                    "draft": (!drafts.is_empty()).then(|| draft_name(region.id)),
                })
            })
            .collect();
        let out = json!({
            "situations": r.situations, "cover": r.cover, "under_covered": r.under_covered,
            "noise": r.noise, "eps": r.eps, "min_points": r.options.min_points,
            "min_cover": r.options.min_cover, "regions": regions,
        });
        out!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    out!(
        "{} situations, {} with cover < {}: {} regions, {} in none (eps {:.3} rad, min points {})",
        r.situations,
        r.under_covered,
        r.options.min_cover,
        r.regions.len(),
        r.noise,
        r.eps,
        r.options.min_points
    );
    for region in &r.regions {
        out!("\nregion {}: {} situations, radius {:.3} rad", region.id, region.size, region.radius);
        for e in exemplars(region) {
            out!("  {:>6}  {}", e["line"], e["text"]);
        }
        let near: Vec<String> = region
            .nearest_agents
            .iter()
            .map(|s| format!("{} (+{:.3})", s.agent, s.stretch))
            .collect();
        out!("  nearest agents (stretch, rad): {}", near.join(", "));
    }
    if !drafts.is_empty() {
        out!("\nsaved drafts: {}", drafts.join(", "));
    }
    Ok(())
}

/// Runs `bureau bridges`; found when a bridge or stepping stone was chosen.
pub fn bridge(g: &Global, args: &BridgesArgs) -> Result<bool> {
    if args.budget == 0 {
        bail!("--budget must be at least 1");
    }
    let corpus = read_corpus(&args.corpus)?;
    let mut store = open(g)?;
    store.agent(&args.agent)?;
    let vectors = embed_corpus(g, &mut store, &corpus)?;
    let bureau = Bureau::load(&store)?;
    let report = bridges(&bureau, &args.agent, &vectors, args.budget)?;
    render_bridges(g.json, &corpus, &report)
}

/// JSON: `{"kind": "bridges", "agent", "candidates", "overlapping":
/// {agent: n}, "min_pairwise_angle", "bridges": [{"line", "text", "depth",
/// "novelty", "binds": [{"agent", "depth"}]}]}` or `{"kind":
/// "stepping_stones", "agent", "nearest_agent", "gap", "stones": [{"line",
/// "text", "t", "distance"}]}`.
fn render_bridges(json: bool, corpus: &Corpus, report: &BridgeReport) -> Result<bool> {
    let text = |i: usize| (corpus.lines[i], corpus.texts[i].as_str());
    let value = match report {
        BridgeReport::Bridges { agent, candidates, overlapping, min_pairwise_angle, bridges } => {
            let rows: Vec<_> = bridges
                .iter()
                .map(|b| {
                    let (line, t) = text(b.situation);
                    json!({ "line": line, "text": t, "depth": b.depth,
                            "novelty": b.novelty, "binds": b.binds })
                })
                .collect();
            json!({ "kind": "bridges", "agent": agent, "candidates": candidates,
                    "overlapping": overlapping, "min_pairwise_angle": min_pairwise_angle,
                    "bridges": rows })
        }
        BridgeReport::SteppingStones { agent, nearest_agent, gap, stones } => {
            let rows: Vec<_> = stones
                .iter()
                .map(|s| {
                    let (line, t) = text(s.situation);
                    json!({ "line": line, "text": t, "t": s.t, "distance": s.distance })
                })
                .collect();
            json!({ "kind": "stepping_stones", "agent": agent, "nearest_agent": nearest_agent,
                    "gap": gap, "stones": rows })
        }
    };
    let found = match report {
        BridgeReport::Bridges { bridges, .. } => !bridges.is_empty(),
        BridgeReport::SteppingStones { stones, .. } => !stones.is_empty(),
    };
    if json {
        out!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        print_bridges(&value);
    }
    Ok(found)
}

fn print_bridges(v: &serde_json::Value) {
    if v["kind"] == "bridges" {
        out!(
            "{} candidates in {}'s scope and an old one; overlapping: {}",
            v["candidates"],
            v["agent"],
            v["overlapping"]
        );
        for b in v["bridges"].as_array().into_iter().flatten() {
            let binds: Vec<String> = b["binds"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|x| {
                    format!(
                        "{} ({:.2})",
                        x["agent"].as_str().unwrap_or("?"),
                        x["depth"].as_f64().unwrap_or(0.0)
                    )
                })
                .collect();
            out!("  {:>6}  {}  binds {}", b["line"], b["text"], binds.join(", "));
        }
        return;
    }
    let gap = v["gap"].as_f64().unwrap_or(f64::NAN);
    // A gap at most 0 means the caps meet but the corpus holds nothing in both.
    let between = if gap > 0.0 {
        format!("gap to {} is {gap:.3} rad", v["nearest_agent"])
    } else {
        format!(
            "its caps meet {}'s (by {:.3} rad) but no corpus situation is in both",
            v["nearest_agent"], -gap
        )
    };
    out!("{} overlaps no old scope on this corpus; {between}; stepping stones:", v["agent"]);
    for s in v["stones"].as_array().into_iter().flatten() {
        out!("  t={:.2} {:>6}  {}", s["t"].as_f64().unwrap_or(0.0), s["line"], s["text"]);
    }
}

/// Runs `bureau episode`: records episodes, or stores reported outcomes.
pub fn episode(g: &Global, args: &EpisodeArgs) -> Result<bool> {
    let mut store = open(g)?;
    if let Some(path) = &args.outcomes {
        let summary = record_outcomes(&mut store, path)?;
        if g.json {
            out!("{}", serde_json::to_string_pretty(&summary)?);
        } else {
            out!(
                "{}: {} outcomes stored as episode evidence ({} ok, {} fail); refit to use them",
                path.display(),
                summary.evidence,
                summary.ok,
                summary.fail
            );
        }
        return Ok(summary.evidence > 0);
    }
    let texts = match (&args.text, &args.input) {
        (Some(text), _) => {
            check_text(Path::new("<argument>"), 1, text)?;
            vec![text.clone()]
        }
        (None, Some(input)) => read_corpus(input)?.texts,
        (None, None) => bail!("give a situation's text, --input FILE or --outcomes FILE"),
    };
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let bar = bar(g);
    let recorded = record_episodes(&mut store, &mut encoder(g)?, &refs, &tick(&bar))?;
    bar.finish_and_clear();
    render_episodes(g.json, &refs, &recorded)?;
    Ok(recorded.iter().any(|e| !e.episode.participants.is_empty()))
}

/// JSON: `[{"id", "situation_id", "text", "episode": {"participants",
/// "near_misses", "cover", "under_covered"}}]`, as `who` prints episodes.
fn render_episodes(json: bool, texts: &[&str], recorded: &[RecordedEpisode]) -> Result<()> {
    if json {
        let rows: Vec<_> = texts
            .iter()
            .zip(recorded)
            .map(|(t, e)| {
                json!({ "id": e.id, "situation_id": e.situation_id,
                        "text": t, "episode": e.episode })
            })
            .collect();
        out!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    for (t, e) in texts.iter().zip(recorded) {
        let names: Vec<&str> = e.episode.participants.iter().map(|m| m.agent.as_str()).collect();
        let near: Vec<&str> = e.episode.near_misses.iter().map(|m| m.agent.as_str()).collect();
        out!("episode {}: {t:?}", e.id);
        out!(
            "  participants: {}",
            if names.is_empty() { "-".to_owned() } else { names.join(", ") }
        );
        out!("  near misses:  {}", if near.is_empty() { "-".to_owned() } else { near.join(", ") });
    }
    Ok(())
}
