//! Audit: how conservative are the fitted scopes against fresh outcomes?
//!
//! Evidence not used in fitting streams in from a JSONL file in chunks
//! (DESIGN.md, "Audit"). Each chunk is embedded through the store's cache
//! and counted against every agent's scope by the [`tally`] core; nothing is
//! stored, and memory holds one chunk plus a fixed tally per agent. The
//! report gives, per agent, inside/outside x ok/fail counts, the failure
//! rate inside with its Clopper-Pearson interval, the coverage of `ok`, a
//! verdict, the deepest failures inside and the scale the new evidence
//! would certify.

pub mod tally;

use crate::embed::embed_cached;
use crate::encoder::Encoder;
use crate::fit::risk::{default_grid, RiskConfig};
use crate::import::EvidenceLine;
use crate::input::{check_text, for_each_chunk, InputError, Row};
use crate::stats::{clopper_pearson, Interval};
use crate::store::{Outcome, ScopeRow, Store};
use crate::{Error, Progress};
use serde::Serialize;
use std::collections::HashMap;
use std::path::Path;
use tally::{AuditRow, Counter, Deepest, Tally};

/// Lines read, embedded and counted at a time.
pub const CHUNK: usize = 4096;

/// Delta used when neither the fit nor the caller gives one.
pub const DEFAULT_DELTA: f64 = 0.05;

/// Settings of an audit.
#[derive(Debug, Clone, Default)]
pub struct AuditOptions {
    /// Risk level to judge every agent by; default: each fit's own epsilon.
    pub epsilon: Option<f64>,
    /// Confidence parameter; default: each fit's own delta, else
    /// [`DEFAULT_DELTA`].
    pub delta: Option<f64>,
}

/// Whether a scope kept its promise on the audited evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The interval's upper end is at or below epsilon (or the scope is
    /// empty and claims nothing).
    Conservative,
    /// The interval's lower end is above epsilon.
    Overreaching,
    /// The interval straddles epsilon: more evidence is needed.
    Undecided,
}

/// Rows of one kind inside or outside a scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// `ok` rows.
    pub ok: u64,
    /// `fail` rows.
    pub fail: u64,
}

/// One agent's audit.
#[derive(Debug, Clone, Serialize)]
pub struct AgentAudit {
    /// Agent name.
    pub agent: String,
    /// Fit method of its active scope (`coverage`, `risk`), if fitted.
    pub method: Option<String>,
    /// Prototypes in its scope (0 for an empty or missing scope).
    pub prototypes: usize,
    /// The fitted scale, if any.
    pub lambda: Option<f64>,
    /// Risk level judged against; `None` when neither fit nor caller set one.
    pub epsilon: Option<f64>,
    /// Confidence parameter of the interval and the accepted scale.
    pub delta: f64,
    /// Rows inside the scope.
    pub inside: Counts,
    /// Rows outside the scope.
    pub outside: Counts,
    /// Failures among rows inside; `None` when none is inside.
    pub failure_rate_inside: Option<f64>,
    /// Two-sided Clopper-Pearson interval of that rate at 1 - delta.
    pub interval: Interval,
    /// Share of `ok` rows inside; `None` without `ok` rows.
    pub coverage_ok: Option<f64>,
    /// The verdict; `None` when there is no epsilon to judge by.
    pub verdict: Option<Verdict>,
    /// Failures inside, deepest first (at most [`tally::DEEPEST`]).
    pub deepest_failures: Vec<Deepest>,
    /// The scale this evidence would certify at (epsilon, delta), as a
    /// risk-mode fit would; `None` when none or without epsilon.
    pub accepted_lambda: Option<f64>,
}

/// An audit of every agent with rows in the file, in store order.
#[derive(Debug, Clone, Serialize)]
pub struct AuditReport {
    /// Evidence rows read.
    pub rows: u64,
    /// Per-agent audits.
    pub agents: Vec<AgentAudit>,
}

/// Audits the store's scopes against the evidence lines of `path` (the
/// `import evidence` format, `-` for stdin) without storing them.
///
/// Every agent named must be in the store; a bad line stops the audit with
/// its file and line.
pub fn audit_file(
    store: &Store,
    encoder: &mut Encoder,
    path: &Path,
    options: &AuditOptions,
    progress: Progress,
) -> Result<AuditReport, Error> {
    let scopes = store.scopes()?;
    let names: HashMap<&str, u32> =
        scopes.iter().enumerate().map(|(i, s)| (s.agent.name.as_str(), i as u32)).collect();
    let prototypes: Vec<_> = scopes.iter().map(|s| s.prototypes.clone()).collect();
    let mut counter = Counter::try_new(&prototypes, default_grid())?;
    let mut rows = 0u64;
    for_each_chunk(path, CHUNK, |chunk: Vec<Row<EvidenceLine>>| {
        let agents = check_chunk(path, &chunk, &names)?;
        let texts: Vec<&str> = chunk.iter().map(|r| r.value.text.as_str()).collect();
        let vectors = embed_cached(store, encoder, &texts, progress)?;
        let block: Vec<AuditRow> = chunk
            .iter()
            .zip(&agents)
            .zip(&vectors)
            .map(|((r, &agent), v)| AuditRow {
                agent,
                failed: r.value.outcome == Outcome::Fail,
                embedding: v,
                line: r.line,
                text: &r.value.text,
            })
            .collect();
        counter.add_block(&block)?;
        rows += block.len() as u64;
        tracing::debug!(rows, "audited");
        Ok::<(), Error>(())
    })?;
    let agents = scopes
        .iter()
        .enumerate()
        .filter(|(i, _)| total(&counter.tallies()[*i]) > 0)
        .map(|(i, scope)| agent_audit(scope, &counter, i, options))
        .collect::<Result<_, _>>()?;
    Ok(AuditReport { rows, agents })
}

/// Checks a chunk's texts and agent names; returns each row's agent number.
fn check_chunk(
    path: &Path,
    chunk: &[Row<EvidenceLine>],
    names: &HashMap<&str, u32>,
) -> Result<Vec<u32>, InputError> {
    chunk
        .iter()
        .map(|r| {
            check_text(path, r.line, &r.value.text)?;
            names.get(r.value.agent.as_str()).copied().ok_or_else(|| InputError::Invalid {
                path: path.to_owned(),
                line: r.line,
                reason: format!("unknown agent {:?} (not in the store)", r.value.agent),
            })
        })
        .collect()
}

fn total(t: &Tally) -> u64 {
    t.inside_ok + t.inside_fail + t.outside_ok + t.outside_fail
}

/// One agent's report from its tally.
fn agent_audit(
    scope: &ScopeRow,
    counter: &Counter,
    i: usize,
    options: &AuditOptions,
) -> Result<AgentAudit, Error> {
    let t = &counter.tallies()[i];
    let fit = scope.fit.as_ref();
    let epsilon = options.epsilon.or(fit.and_then(|f| f.epsilon));
    let delta = options.delta.or(fit.and_then(|f| f.delta)).unwrap_or(DEFAULT_DELTA);
    let inside = t.inside_ok + t.inside_fail;
    let interval = clopper_pearson(t.inside_fail, inside, 1.0 - delta);
    let accepted_lambda = match epsilon {
        Some(epsilon) => counter.accepted(i, &RiskConfig::new(epsilon, delta))?.lambda,
        None => None,
    };
    let empty = scope.prototypes.is_empty();
    Ok(AgentAudit {
        agent: scope.agent.name.clone(),
        method: fit.map(|f| f.method.clone()),
        prototypes: scope.prototypes.len(),
        lambda: fit.and_then(|f| f.lambda),
        epsilon,
        delta,
        inside: Counts { ok: t.inside_ok, fail: t.inside_fail },
        outside: Counts { ok: t.outside_ok, fail: t.outside_fail },
        failure_rate_inside: ratio(t.inside_fail, inside),
        interval,
        coverage_ok: ratio(t.inside_ok, t.inside_ok + t.outside_ok),
        verdict: epsilon.map(|e| verdict(interval, e, empty)),
        deepest_failures: t.deepest.clone(),
        accepted_lambda,
    })
}

/// The verdict of an interval against epsilon; an empty scope claims
/// nothing and so cannot overreach.
pub fn verdict(interval: Interval, epsilon: f64, empty_scope: bool) -> Verdict {
    if empty_scope || interval.high <= epsilon {
        Verdict::Conservative
    } else if interval.low > epsilon {
        Verdict::Overreaching
    } else {
        Verdict::Undecided
    }
}

fn ratio(a: u64, b: u64) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_reads_the_interval_against_epsilon() {
        let at = |low, high| Interval { low, high };
        assert_eq!(verdict(at(0.0, 0.08), 0.1, false), Verdict::Conservative);
        assert_eq!(verdict(at(0.12, 0.3), 0.1, false), Verdict::Overreaching);
        assert_eq!(verdict(at(0.05, 0.3), 0.1, false), Verdict::Undecided);
        assert_eq!(verdict(at(0.0, 1.0), 0.1, true), Verdict::Conservative);
    }
}
