//! `bureau audit`: arguments, the library call and its rendering.
//!
//! JSON shape (`--json`): `{"rows": n, "agents": [{"agent", "method",
//! "prototypes", "lambda", "epsilon", "delta", "inside": {"ok", "fail"},
//! "outside": {"ok", "fail"}, "failure_rate_inside", "interval": {"low",
//! "high"}, "coverage_ok", "verdict": "conservative"|"overreaching"|
//! "undecided"|null, "deepest_failures": [{"line", "text", "depth"}],
//! "accepted_lambda"}]}`; absent values are null.

use super::args::Global;
use super::{bar, encoder, open, tick};
use anyhow::Result;
use bureau::audit::{audit_file, AuditOptions, AuditReport, Verdict};
use clap::Args;
use std::path::PathBuf;

/// Arguments of `bureau audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// JSONL evidence not used in fitting, one {"text", "agent", "outcome",
    /// "source"} per line ("-" for stdin); streamed, never stored.
    #[arg(long)]
    pub evidence: PathBuf,
    /// Judge every agent at this risk level [default: each fit's epsilon].
    #[arg(long)]
    pub epsilon: Option<f64>,
    /// Confidence parameter [default: each fit's delta, else 0.05].
    #[arg(long)]
    pub delta: Option<f64>,
}

/// Runs the audit; found when some agent had rows.
pub fn run(g: &Global, args: &AuditArgs) -> Result<bool> {
    for (name, v) in [("epsilon", args.epsilon), ("delta", args.delta)] {
        if let Some(v) = v {
            anyhow::ensure!(v > 0.0 && v < 1.0, "--{name} must lie in (0, 1), got {v}");
        }
    }
    let store = open(g)?;
    let mut encoder = encoder(g)?;
    let options = AuditOptions { epsilon: args.epsilon, delta: args.delta };
    let bar = bar(g);
    let report = audit_file(&store, &mut encoder, &args.evidence, &options, &tick(&bar))?;
    bar.finish_and_clear();
    render(g.json, &report)?;
    Ok(!report.agents.is_empty())
}

fn render(json: bool, report: &AuditReport) -> Result<()> {
    if json {
        out!("{}", serde_json::to_string_pretty(report)?);
        return Ok(());
    }
    out!("{} evidence rows audited", report.rows);
    out!(
        "{:<24} {:>6} {:>6} {:>6} {:>6} {:>7} {:>15} {:>6} {:>8} {:>8}  verdict",
        "agent",
        "in ok",
        "in fl",
        "out ok",
        "out fl",
        "risk",
        "interval",
        "eps",
        "lambda",
        "accepts"
    );
    for a in &report.agents {
        let opt = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.3}"));
        let verdict = match a.verdict {
            Some(Verdict::Conservative) => "conservative",
            Some(Verdict::Overreaching) => "overreaching",
            Some(Verdict::Undecided) => "undecided",
            None => "-",
        };
        out!(
            "{:<24} {:>6} {:>6} {:>6} {:>6} {:>7} [{:.3}, {:.3}] {:>6} {:>8} {:>8}  {verdict}",
            a.agent,
            a.inside.ok,
            a.inside.fail,
            a.outside.ok,
            a.outside.fail,
            opt(a.failure_rate_inside),
            a.interval.low,
            a.interval.high,
            opt(a.epsilon),
            opt(a.lambda),
            opt(a.accepted_lambda),
        );
        for d in &a.deepest_failures {
            out!("    failure at line {} (depth {:.2}): {}", d.line, d.depth, d.text);
        }
    }
    Ok(())
}
