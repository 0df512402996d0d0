//! Risk mode end to end: prototypes from `ok` evidence, one scale certified
//! on held-out evidence of both kinds (DESIGN.md, "Fitting", step 4).
//!
//! Prototypes are chosen from the training evidence of both kinds when it
//! has failures ([`super::select_risk`]: the candidate whose certified
//! scope holds most of a tuning quarter's `ok` situations), else by coverage
//! mode's rule. Neither sees the calibration situations, their outcomes or
//! their positions: outside situations identical to a calibration situation
//! are dropped before coverage mode's rule runs. Calibration points keep
//! the store's order (evidence id), or a seeded shuffle when they are held
//! out of the training evidence, so their order is independent of their
//! scores and outcomes as [`super::risk::fit_risk`] requires.

use super::prototypes::{choose_k, score};
use super::risk::{fit_risk, RiskConfig, RiskError};
use super::select_risk::select_risk;
use super::{scale, select, FitOptions, FittedScope};
use crate::store::{EvidenceRow, FitRecord, Outcome, Source};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// The risk a scope must keep, and the chance the certificate may be wrong.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RiskLevel {
    /// Largest failure rate tolerated inside the scope.
    pub epsilon: f64,
    /// Probability that the certified scope's true risk exceeds epsilon.
    pub delta: f64,
}

/// An agent's evidence divided for a risk-mode fit.
#[derive(Debug, Default)]
struct Parts {
    /// `ok` situations that place the prototypes.
    fit: Vec<Vec<f32>>,
    /// `fail` situations outside the calibration split: they choose the
    /// prototypes with `fit` (see [`select_risk`]).
    fit_fail: Vec<Vec<f32>>,
    /// `(situation, failed)` in an order independent of their values.
    calibration: Vec<(Vec<f32>, bool)>,
}

/// Fits one agent's scope in risk mode.
///
/// Calibration uses the agent's `eval` evidence, `ok` and `fail`, in store
/// order; with none, a seeded `options.calibration_share` of its other
/// evidence is held out. Prototypes come from the remaining `ok` evidence,
/// k chosen by `outside` as in coverage mode (at `options.alpha`, a tuning
/// level only). An agent whose evidence certifies no scale gets an empty
/// scope and the reason. Errors only on an invalid `level`.
pub fn fit_risk_scope(
    evidence: &[EvidenceRow],
    outside: &[Vec<f32>],
    options: &FitOptions,
    level: RiskLevel,
    model_id: &str,
) -> Result<FittedScope, RiskError> {
    let config = RiskConfig::new(level.epsilon, level.delta);
    // Invalid levels are refused before any work, whatever the evidence.
    fit_risk(&[], &config)?;
    let parts = divide(evidence, options);
    let mut record = risk_record(&parts, options, level, model_id);
    if parts.fit.is_empty() {
        record.reason =
            Some("no ok evidence outside the calibration split to fit prototypes on".into());
        return Ok(FittedScope { record, prototypes: vec![] });
    }
    // Without a single failure the evidence cannot say where the agent
    // fails, and the bound would certify the widest scale on the grid: the
    // whole sphere. Conservative means claiming nothing.
    if parts.fit_fail.is_empty() && parts.calibration.iter().all(|(_, failed)| !failed) {
        record.reason = Some(
            "no fail evidence: risk mode cannot tell where the agent fails; add fail \
             outcomes or fit in coverage mode (--alpha)"
                .into(),
        );
        return Ok(FittedScope { record, prototypes: vec![] });
    }
    let outside = without_calibration(outside, &parts.calibration);
    let k_max = choose_k(parts.fit.len(), options.per_prototype, options.max_k);
    let (q, seed) = (options.spread_quantile, options.seed);
    // Where training failures exist they choose the prototypes; otherwise,
    // or when no candidate certifies anything on them, coverage mode's rule.
    let chosen =
        select_risk(&parts.fit, &parts.fit_fail, k_max, parts.calibration.len(), &config, seed)
            .unwrap_or_else(|| select::select(&parts.fit, &outside, k_max, options.alpha, q, seed));
    record.k = chosen.seeds.len();
    record.k_candidates = chosen.candidates;
    let points: Vec<(f64, bool)> =
        parts.calibration.iter().map(|(x, failed)| (score(x, &chosen.seeds), *failed)).collect();
    let certified = fit_risk(&points, &config)?;
    tracing::debug!(?certified, "risk-mode calibration");
    record.bound = Some(certified.upper_bound);
    record.lambda = certified.lambda;
    record.reason = certified.reason;
    let prototypes = certified.lambda.map(|l| scale(&chosen.seeds, l)).unwrap_or_default();
    if prototypes.is_empty() && record.reason.is_none() {
        record.reason = Some("the certified scale 0 gives every prototype radius 0".into());
    }
    Ok(FittedScope { record, prototypes })
}

/// The record of a risk-mode fit before calibration.
fn risk_record(parts: &Parts, options: &FitOptions, level: RiskLevel, model_id: &str) -> FitRecord {
    FitRecord {
        epsilon: Some(level.epsilon),
        delta: Some(level.delta),
        n_fit: parts.fit.len(),
        n_calibration: parts.calibration.len(),
        ..FitRecord::new("risk", model_id, options.seed)
    }
}

/// Separates prototype evidence from calibration evidence.
fn divide(evidence: &[EvidenceRow], options: &FitOptions) -> Parts {
    let failed = |e: &EvidenceRow| e.outcome == Outcome::Fail;
    let eval: Vec<&EvidenceRow> = evidence.iter().filter(|e| e.source == Source::Eval).collect();
    let mut rest: Vec<&EvidenceRow> =
        evidence.iter().filter(|e| e.source != Source::Eval).collect();
    let held: Vec<&EvidenceRow> = if eval.is_empty() {
        // A seeded permutation: its order depends on neither score nor outcome.
        rest.shuffle(&mut Xoshiro256PlusPlus::seed_from_u64(options.seed));
        let n = (rest.len() as f64 * options.calibration_share).round() as usize;
        rest.split_off(rest.len() - n)
    } else {
        eval
    };
    Parts {
        fit: rest.iter().filter(|e| !failed(e)).map(|e| e.embedding.clone()).collect(),
        fit_fail: rest.iter().filter(|e| failed(e)).map(|e| e.embedding.clone()).collect(),
        calibration: held.iter().map(|e| (e.embedding.clone(), failed(e))).collect(),
    }
}

/// `outside` without the situations used for calibration, compared bit for
/// bit (the store keeps one embedding per situation, so equal situations
/// have equal bits).
fn without_calibration(outside: &[Vec<f32>], calibration: &[(Vec<f32>, bool)]) -> Vec<Vec<f32>> {
    let bits = |x: &[f32]| x.iter().map(|v| v.to_bits()).collect::<Vec<u32>>();
    let held: HashSet<Vec<u32>> = calibration.iter().map(|(x, _)| bits(x)).collect();
    outside.iter().filter(|x| !held.contains(&bits(x))).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(theta: f32, outcome: Outcome, source: Source) -> EvidenceRow {
        EvidenceRow { situation_id: 0, outcome, source, embedding: vec![theta.cos(), theta.sin()] }
    }

    #[test]
    fn eval_evidence_of_both_kinds_calibrates_in_store_order() {
        let mut rows =
            vec![row(0.0, Outcome::Ok, Source::Train), row(0.1, Outcome::Fail, Source::Train)];
        rows.push(row(0.2, Outcome::Fail, Source::Eval));
        rows.push(row(0.3, Outcome::Ok, Source::Eval));
        let parts = divide(&rows, &FitOptions::default());
        assert_eq!(parts.fit.len(), 1);
        let failed: Vec<bool> = parts.calibration.iter().map(|(_, f)| *f).collect();
        assert_eq!(failed, vec![true, false]);
    }

    #[test]
    fn without_eval_a_seeded_share_of_both_kinds_is_held_out() {
        let rows: Vec<EvidenceRow> = (0..100)
            .map(|i| {
                let outcome = if i % 2 == 0 { Outcome::Ok } else { Outcome::Fail };
                row(i as f32 / 100.0, outcome, Source::Train)
            })
            .collect();
        let parts = divide(&rows, &FitOptions::default());
        assert_eq!(parts.calibration.len(), 30);
        let fails = parts.calibration.iter().filter(|(_, f)| *f).count();
        assert!(fails > 0 && fails < 30, "{fails}");
        assert_eq!(parts.fit.len(), 50 - (30 - fails));
        let calibration = parts.calibration.clone();
        assert!(without_calibration(&[calibration[0].0.clone()], &calibration).is_empty());
    }

    #[test]
    fn evidence_without_failures_certifies_nothing() {
        let rows: Vec<EvidenceRow> = (0..400)
            .map(|i| {
                let source = if i % 3 == 0 { Source::Eval } else { Source::Train };
                row(i as f32 / 400.0, Outcome::Ok, source)
            })
            .collect();
        let level = RiskLevel { epsilon: 0.1, delta: 0.05 };
        let fit = fit_risk_scope(&rows, &[], &FitOptions::default(), level, "m").expect("valid");
        assert!(fit.prototypes.is_empty());
        let reason = fit.record.reason.expect("the empty scope says why");
        assert!(reason.starts_with("no fail evidence"), "{reason}");
    }

    #[test]
    fn invalid_level_is_an_error() {
        let level = RiskLevel { epsilon: 1.5, delta: 0.1 };
        let result = fit_risk_scope(&[], &[], &FitOptions::default(), level, "m");
        assert!(matches!(result, Err(RiskError::InvalidEpsilon { .. })));
    }
}
