//! Fitting conservative scopes from evidence.
//!
//! An agent's scope is fitted in two steps (DESIGN.md, "Fitting"):
//! prototypes from its `ok` training situations (k-means, each with a base
//! spread), then one radius scale lambda, calibrated on held-out situations,
//! so that every radius is lambda times its prototype's spread. In coverage
//! mode lambda is the split-conformal quantile at level alpha: the scope
//! holds at least 1 - alpha of the agent's own distribution, and no more
//! than that envelope of its demonstrated competence.

pub mod conformal;
pub mod prototypes;
pub mod risk;
pub mod risk_fit;
pub mod select;
pub mod select_risk;

pub use risk_fit::{fit_risk_scope, RiskLevel};

use crate::store::{EvidenceRow, FitRecord, Outcome, Source, StoredPrototype};
use prototypes::{choose_k, score, Seed};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::Serialize;
use std::f32::consts::PI;

/// Settings of a coverage-mode fit.
#[derive(Debug, Clone, Serialize)]
pub struct FitOptions {
    /// Miscoverage level: the scope holds at least 1 - alpha of the agent's
    /// own situations.
    pub alpha: f64,
    /// Most prototypes per agent.
    pub max_k: usize,
    /// Situations per prototype in the rule that picks k.
    pub per_prototype: usize,
    /// Quantile of member angles that gives a prototype's base spread.
    pub spread_quantile: f64,
    /// Share of training situations held out for calibration when the agent
    /// has no `eval` evidence.
    pub calibration_share: f64,
    /// Seed of k-means and of the calibration split.
    pub seed: u64,
    /// Risk mode's level; `None` fits in coverage mode at `alpha`.
    pub risk: Option<RiskLevel>,
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions {
            alpha: 0.05,
            max_k: 32,
            per_prototype: 40,
            spread_quantile: 0.95,
            calibration_share: 0.3,
            seed: 17,
            risk: None,
        }
    }
}

/// A fitted scope: the record to store and its prototypes.
#[derive(Debug, Clone)]
pub struct FittedScope {
    /// How it was fitted.
    pub record: FitRecord,
    /// Its prototypes, radii scaled; empty for an empty scope.
    pub prototypes: Vec<StoredPrototype>,
}

/// Fits one agent's scope in coverage mode from its evidence.
///
/// Prototypes come from `ok` evidence of source `train` or `episode`;
/// calibration uses `ok` evidence of source `eval`, or, when there is none,
/// a seeded share of the training situations held out from k-means.
/// `outside` holds situations the agent must not be claimed on (other
/// agents' situations and its own failures); k is chosen by them (see
/// [`select`]).
pub fn fit_coverage(
    evidence: &[EvidenceRow],
    outside: &[Vec<f32>],
    options: &FitOptions,
    model_id: &str,
) -> FittedScope {
    let (fit, calibration) = split(evidence, options);
    let mut record = FitRecord {
        alpha: Some(options.alpha),
        n_fit: fit.len(),
        n_calibration: calibration.len(),
        ..FitRecord::new("coverage", model_id, options.seed)
    };
    if fit.is_empty() {
        record.reason = Some("no ok evidence to fit prototypes on".to_owned());
        return FittedScope { record, prototypes: vec![] };
    }
    let k_max = choose_k(fit.len(), options.per_prototype, options.max_k);
    let (q, seed) = (options.spread_quantile, options.seed);
    let chosen = select::select(&fit, outside, k_max, options.alpha, q, seed);
    let seeds = chosen.seeds;
    record.k = seeds.len();
    record.k_candidates = chosen.candidates;
    let scores: Vec<f64> = calibration.iter().map(|x| score(x, &seeds)).collect();
    match conformal::conformal_scale(&scores, options.alpha) {
        Ok(lambda) => {
            record.lambda = Some(lambda);
            FittedScope { prototypes: scale(&seeds, lambda), record }
        }
        Err(error) => {
            record.reason = Some(error.to_string());
            FittedScope { record, prototypes: vec![] }
        }
    }
}

/// Fits one agent's scope in the mode `options` asks for: risk mode when
/// `options.risk` is set, coverage mode otherwise.
pub fn fit_scope(
    evidence: &[EvidenceRow],
    outside: &[Vec<f32>],
    options: &FitOptions,
    model_id: &str,
) -> Result<FittedScope, risk::RiskError> {
    match options.risk {
        Some(level) => fit_risk_scope(evidence, outside, options, level, model_id),
        None => Ok(fit_coverage(evidence, outside, options, model_id)),
    }
}

/// Separates fitting situations from calibration situations.
fn split(evidence: &[EvidenceRow], options: &FitOptions) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    let ok = |source: Source| {
        evidence
            .iter()
            .filter(move |e| e.outcome == Outcome::Ok && e.source == source)
            .map(|e| e.embedding.clone())
    };
    let mut fit: Vec<Vec<f32>> = ok(Source::Train).chain(ok(Source::Episode)).collect();
    let calibration: Vec<Vec<f32>> = ok(Source::Eval).collect();
    if !calibration.is_empty() {
        return (fit, calibration);
    }
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(options.seed);
    fit.shuffle(&mut rng);
    let held = (fit.len() as f64 * options.calibration_share).round() as usize;
    let calibration = fit.split_off(fit.len() - held);
    (fit, calibration)
}

/// Scales every prototype's spread by lambda, capped at a hemisphere-plus
/// radius of pi (the whole sphere).
fn scale(seeds: &[Seed], lambda: f64) -> Vec<StoredPrototype> {
    seeds
        .iter()
        .map(|s| StoredPrototype {
            centre: s.centre.clone(),
            spread: s.spread,
            radius: ((lambda * f64::from(s.spread)) as f32).min(PI),
        })
        .filter(|p| p.radius > 0.0)
        .collect()
}
