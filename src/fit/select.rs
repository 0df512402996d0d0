//! Choosing the number of prototypes by the evidence that lies outside an
//! agent's competence.
//!
//! Granularity is a conservativeness choice: one cap over two groups of
//! examples claims the space between them. When the store holds situations
//! the agent must not be claimed on (other agents' situations, its own
//! `fail` outcomes), each candidate k is fitted on part of the training
//! situations, scaled to cover 1 - alpha of the rest, and scored by the
//! share of those outside situations it would claim. The k claiming least
//! wins. The calibration split is never seen here, so the conformal
//! guarantee of the final scale is untouched.

use super::conformal::conformal_scale;
use super::prototypes::{fit_centres, fit_seeds, score, spreads, Seed};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};

/// One candidate k and what it would claim.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// Prototypes asked of k-means.
    pub k: usize,
    /// Quantile of member angles used as each prototype's spread.
    pub spread_quantile: f64,
    /// Share of outside situations the candidate's scope would hold (risk
    /// mode: of the tuning split's failures, inside its certified scope).
    pub outside_claimed: f64,
    /// Risk mode: prototypes whose training failure rate exceeded this were
    /// dropped (1 keeps every prototype).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_fail_rate: Option<f64>,
    /// Risk mode: prototypes kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kept: Option<usize>,
    /// Risk mode: share of the tuning split's `ok` situations inside the
    /// scale a risk-mode fit certified on that split (0 when none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ok_certified: Option<f64>,
}

/// The chosen prototypes and every candidate's score.
#[derive(Debug, Clone)]
pub struct Selection {
    /// Prototypes of the winning candidate.
    pub seeds: Vec<Seed>,
    /// All candidates, in the order tried.
    pub candidates: Vec<Candidate>,
}

/// Candidate spread quantiles. The centres stay; only the spreads change,
/// so trying several is cheap.
pub const QUANTILES: [f64; 4] = [0.5, 0.75, 0.9, 0.95];

/// k-means runs per candidate k, each with its own seed: a poor local
/// optimum claims more outside evidence and loses to a better one.
pub const RESTARTS: u64 = 2;

/// The candidate ks: the rule's k and its halvings, down to 1.
pub fn ladder(k_max: usize) -> Vec<usize> {
    std::iter::successors(Some(k_max.max(1)), |&k| (k > 1).then_some(k / 2)).take(4).collect()
}

/// Picks k among `ladder(k_max)` by the share of `outside` claimed.
///
/// `fit` is split once: three quarters fit each candidate's prototypes, one
/// quarter sets its scale. Needs enough held situations for the scale at
/// level alpha; otherwise, or with no outside evidence, it falls back to
/// `k_max` fitted on everything.
pub fn select(
    fit: &[Vec<f32>],
    outside: &[Vec<f32>],
    k_max: usize,
    alpha: f64,
    quantile: f64,
    seed: u64,
) -> Selection {
    let held = fit.len() / 4;
    let fallback =
        || Selection { seeds: fit_seeds(fit, k_max, quantile, seed), candidates: vec![] };
    if outside.is_empty() || (held as f64) < 1.0 / alpha {
        return fallback();
    }
    // Shuffled, since evidence often arrives grouped by topic.
    let mut order: Vec<&Vec<f32>> = fit.iter().collect();
    order.shuffle(&mut Xoshiro256PlusPlus::seed_from_u64(seed));
    let (train, tune) = order.split_at(fit.len() - held);
    let train: Vec<Vec<f32>> = train.iter().map(|v| (*v).clone()).collect();
    let mut best: Option<(f64, Vec<Seed>)> = None;
    let mut candidates = Vec::new();
    let runs = ladder(k_max).into_iter().flat_map(|k| (0..RESTARTS).map(move |r| (k, r)));
    for (k, restart) in runs {
        let centres = fit_centres(&train, k, seed.wrapping_add(restart));
        for spread_quantile in QUANTILES {
            let seeds = spreads(&train, centres.clone(), spread_quantile);
            let tune_scores: Vec<f64> = tune.iter().map(|x| score(x, &seeds)).collect();
            let Ok(lambda) = conformal_scale(&tune_scores, alpha) else { continue };
            let claimed = outside.iter().filter(|x| score(x, &seeds) <= lambda).count();
            let share = claimed as f64 / outside.len() as f64;
            tracing::debug!(k, spread_quantile, lambda, share, "candidate");
            candidates.push(Candidate {
                k,
                spread_quantile,
                outside_claimed: share,
                max_fail_rate: None,
                kept: None,
                ok_certified: None,
            });
            if best.as_ref().is_none_or(|(b, _)| share < *b) {
                best = Some((share, seeds));
            }
        }
    }
    match best {
        Some((_, seeds)) => Selection { seeds, candidates },
        None => fallback(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ladder_halves_down_to_one() {
        assert_eq!(ladder(32), vec![32, 16, 8, 4]);
        assert_eq!(ladder(3), vec![3, 1]);
        assert_eq!(ladder(0), vec![1]);
    }
}
