//! Output: human tables by default, JSON with --json. Every function
//! returns whether something was found, for the exit code.

use anyhow::Result;
use bureau::demo::DemoReport;
use bureau::import::ImportSummary;
use bureau::scopes::{Episode, FitSummary, Member};
use bureau::store::ScopeRow;
use serde_json::json;
use std::path::Path;

fn print_json(value: &impl serde::Serialize) -> Result<()> {
    out!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

pub fn init(json: bool, path: &Path, revision: i64) -> Result<bool> {
    if json {
        print_json(&json!({ "db": path, "revision": revision }))?;
    } else {
        out!("bureau store ready at {} (revision {revision})", path.display());
    }
    Ok(true)
}

pub fn embeddings(json: bool, texts: &[&str], vectors: &[Vec<f32>], model: &str) -> Result<bool> {
    if json {
        for (text, embedding) in texts.iter().zip(vectors) {
            out!("{}", serde_json::to_string(&json!({ "text": text, "embedding": embedding }))?);
        }
    } else {
        let dim = vectors.first().map_or(0, Vec::len);
        out!("embedded {} texts with {model} (dimension {dim}); --json prints them", texts.len());
    }
    Ok(!texts.is_empty())
}

pub fn import(json: bool, file: &Path, s: &ImportSummary) -> Result<bool> {
    if json {
        print_json(s)?;
    } else {
        out!(
            "{}: {} lines, {} agents, {} situations, {} evidence rows imported",
            file.display(),
            s.lines,
            s.agents,
            s.situations,
            s.evidence
        );
    }
    Ok(s.lines > 0)
}

pub fn agents(json: bool, scopes: &[ScopeRow]) -> Result<bool> {
    if json {
        let rows: Vec<_> = scopes
            .iter()
            .map(|s| json!({ "agent": s.agent, "fit": s.fit, "prototypes": s.prototypes.len() }))
            .collect();
        print_json(&rows)?;
        return Ok(!scopes.is_empty());
    }
    out!("{:<24} {:>6} {:>8} {:>8}  mission", "agent", "k", "lambda", "method");
    for s in scopes {
        let (method, lambda) =
            s.fit.as_ref().map_or(("-", None), |f| (f.method.as_str(), f.lambda));
        let lambda = lambda.map_or("-".to_owned(), |l| format!("{l:.3}"));
        out!(
            "{:<24} {:>6} {lambda:>8} {method:>8}  {}",
            s.agent.name,
            s.prototypes.len(),
            s.agent.mission
        );
    }
    Ok(!scopes.is_empty())
}

pub fn fits(json: bool, fits: &[FitSummary]) -> Result<bool> {
    if json {
        print_json(&fits)?;
        return Ok(!fits.is_empty());
    }
    out!("{:<24} {:>6} {:>6} {:>4} {:>8}  note", "agent", "n_fit", "n_cal", "k", "lambda");
    for f in fits {
        let r = &f.fit;
        let lambda = r.lambda.map_or("empty".to_owned(), |l| format!("{l:.3}"));
        out!(
            "{:<24} {:>6} {:>6} {:>4} {lambda:>8}  {}",
            f.agent,
            r.n_fit,
            r.n_calibration,
            r.k,
            r.reason.as_deref().unwrap_or("")
        );
    }
    Ok(!fits.is_empty())
}

fn members(list: &[Member]) -> String {
    let parts: Vec<String> =
        list.iter().map(|m| format!("{} ({:+.2})", m.agent, m.depth)).collect();
    if parts.is_empty() {
        "-".to_owned()
    } else {
        parts.join(", ")
    }
}

pub fn episodes(json: bool, texts: &[&str], episodes: &[Episode]) -> Result<()> {
    if json {
        let rows: Vec<_> = texts
            .iter()
            .zip(episodes)
            .map(|(text, e)| json!({ "text": text, "episode": e }))
            .collect();
        return print_json(&rows);
    }
    for (text, e) in texts.iter().zip(episodes) {
        out!("{text:?}");
        out!("  participants: {}", members(&e.participants));
        out!("  near misses:  {}", members(&e.near_misses));
        if e.under_covered {
            out!("  under-covered: held by {} scope(s)", e.cover);
        }
    }
    Ok(())
}

pub fn demo(json: bool, r: &DemoReport) -> Result<bool> {
    if json {
        print_json(r)?;
        return Ok(true);
    }
    out!("CLINC150 demo ({}), alpha = {}", r.model_id, r.alpha);
    out!(
        "{:<20} {:>4} {:>7} {:>9} {:>9} {:>9}",
        "agent",
        "k",
        "lambda",
        "coverage",
        "foreign",
        "oos"
    );
    for a in &r.agents {
        let lambda = a.lambda.map_or("-".to_owned(), |l| format!("{l:.3}"));
        out!(
            "{:<20} {:>4} {lambda:>7} {:>9.3} {:>9.3} {:>9.3}",
            a.agent,
            a.k,
            a.coverage,
            a.foreign_inclusion,
            a.oos_inclusion
        );
    }
    out!();
    out!("mean coverage of own domain:      {:.3}", r.coverage);
    out!("oos rows included by any agent:   {:.3} of {}", r.oos_false_inclusion, r.oos_rows);
    out!("in-scope rows with no agent:      {:.3}", r.in_scope_uncovered);
    out!("participants per in-scope episode: {:.2}", r.mean_participants);
    let stages: Vec<String> = r.seconds.iter().map(|(k, v)| format!("{k} {v:.1}s")).collect();
    out!("time: {}", stages.join(", "));
    Ok(true)
}
