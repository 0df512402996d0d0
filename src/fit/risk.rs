//! Risk mode: the largest scale whose failure rate inside is certified at or
//! below epsilon, Learn-then-Test style (Angelopoulos, Bates, Candes, Jordan
//! and Lei, 2021, "Learn then Test", fixed-sequence testing).
//!
//! # What is controlled
//!
//! A calibration situation has a score `min_i theta(x, c_i) / s_i` and an
//! outcome; it is inside the scope at scale lambda when `score <= lambda`.
//! The risk of lambda is the conditional failure rate
//! `R(lambda) = P(fail | score <= lambda)` on the evidence distribution. The
//! guarantee: `P(R(lambda_hat) > epsilon) <= delta` over the draw of the
//! calibration evidence, whatever the shape of `R` (it need not be monotone).
//!
//! # The procedure
//!
//! 1. **Split by position.** Every [`ORDERING_STRIDE`]-th point forms the
//!    *ordering* split; the rest form the *testing* split. The input order
//!    must not depend on scores or outcomes (store order, evidence id).
//! 2. **Choose where to start, from the ordering split only.** The start is
//!    the grid scale at which the ordering split predicts the lowest bound
//!    for the testing split (see `choose_start`): the scale most likely
//!    to be certified, from which the scan can climb.
//! 3. **Fixed-sequence test on the testing split.** From the start, scan
//!    the grid upward. At each scale, `n_in` testing points are inside and
//!    `k` of them failed; accept while
//!    `clopper_pearson_upper(k, n_in, 1 - delta) <= epsilon`; stop at the
//!    first rejection. The scope is the last accepted scale, or empty.
//!
//! # Why the guarantee holds
//!
//! Given the ordering split, the order of hypotheses
//! `H_lambda: R(lambda) > epsilon` is fixed, and the testing split is still
//! an independent i.i.d. sample. Given `n_in`, the points inside are i.i.d.
//! from the evidence distribution restricted to the scope, so
//! `k ~ Binomial(n_in, R(lambda))` and the Clopper-Pearson test rejects a
//! true `H_lambda` with probability at most `delta`. A false claim needs the
//! scan to pass the first true hypothesis of the fixed order, which happens
//! with probability at most `delta`; this holds for every ordering split and
//! therefore overall.
//!
//! # Why not scan from 0 on all the data
//!
//! Scanning from lambda = 0 stops at once: the first scales hold a handful
//! of situations and no handful certifies epsilon (see
//! [`crate::stats::min_clean_count`]). Skipping scales until enough points
//! are inside makes the first tested hypothesis depend on the same data that
//! tests it; when an early region is risky and sparse, its under-sampling is
//! what lets the scan start, and the test is no longer exact. Learn then Test
//! recommends learning the order on separate data; the price is a quarter of
//! the points, measured against the alternative of an unusable scan.
//! `tests/guarantees.rs` counts how often the claim fails by simulation.

use crate::stats::{clopper_pearson_upper, min_clean_count};
use serde::Serialize;
use thiserror::Error;

/// One point in [`ORDERING_STRIDE`] goes to the ordering split.
///
/// A quarter is enough to locate where the evidence becomes dense (a
/// coarse, low-variance question) while three quarters stay for the exact
/// test, whose power decides how large the certified scope can be.
pub const ORDERING_STRIDE: usize = 4;

/// A calibration point: its score and whether the agent failed there.
type Point = (f64, bool);

/// Why a risk-mode fit could not run.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum RiskError {
    /// `epsilon` must lie strictly between 0 and 1.
    #[error("epsilon must be in (0, 1), got {epsilon}")]
    InvalidEpsilon {
        /// The rejected risk level.
        epsilon: f64,
    },
    /// `delta` must lie strictly between 0 and 1.
    #[error("delta must be in (0, 1), got {delta}")]
    InvalidDelta {
        /// The rejected error probability.
        delta: f64,
    },
    /// The grid must be non-empty, finite and strictly increasing, because
    /// the fixed order of the test is read from it.
    #[error("scale grid must be finite and strictly increasing, broken at index {index}")]
    BadGrid {
        /// First index where the grid is not finite or does not increase
        /// (0 for an empty grid).
        index: usize,
    },
    /// Counts were tallied on a grid of another length than the config's.
    #[error("counts cover {actual} grid scales, the grid has {expected}")]
    CountsMismatch {
        /// Scales in the config's grid.
        expected: usize,
        /// Entries in the counts given.
        actual: usize,
    },
    /// A calibration score was NaN and cannot be placed inside or outside.
    #[error("calibration score at index {index} is nan")]
    NanScore {
        /// Position of the offending point in the input.
        index: usize,
    },
}

/// What a risk-mode calibration produced, with the numbers behind it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RiskFit {
    /// The certified scale; `None` is an empty scope.
    pub lambda: Option<f64>,
    /// Testing-split points inside the last accepted scale (or inside the
    /// first, rejected scale when the scope is empty).
    pub n_inside: u64,
    /// Failures among those points.
    pub failures_inside: u64,
    /// The Clopper-Pearson upper bound on the risk at that scale.
    pub upper_bound: f64,
    /// How many grid scales the fixed sequence accepted.
    pub steps_accepted: usize,
    /// Why the scope is empty; `None` when a scale was certified.
    pub reason: Option<String>,
}

/// Inputs of a risk-mode fit other than the evidence.
#[derive(Debug, Clone, PartialEq)]
pub struct RiskConfig {
    /// Largest failure rate tolerated inside the scope.
    pub epsilon: f64,
    /// Probability that the certificate is wrong.
    pub delta: f64,
    /// Candidate scales, strictly increasing; fixed before seeing evidence.
    pub grid: Vec<f64>,
}

impl RiskConfig {
    /// A configuration on [`default_grid`].
    pub fn new(epsilon: f64, delta: f64) -> Self {
        Self { epsilon, delta, grid: default_grid() }
    }
}

/// The default candidate scales: 0.00, 0.01, ..., 3.00.
///
/// Scores are angles divided by each prototype's spread s_i, a high
/// quantile of its own members' angles, so lambda = 1 reproduces the spread
/// seen in training. Three spreads is already far past the evidence that
/// placed the prototype, and a conservative scope has no use beyond it. A
/// step of 1% of the spread is finer than the calibration noise (the
/// sampling error of a quantile from a few hundred points is several
/// percent), and fixed-sequence testing pays nothing in delta for more
/// steps, only time, so a finer grid would not certify more.
pub fn default_grid() -> Vec<f64> {
    (0..=300).map(|i| f64::from(i) / 100.0).collect()
}

/// Certifies the largest scale whose risk inside stays at or below
/// `config.epsilon` with confidence `1 - config.delta`.
///
/// `points` are `(score, failed)` pairs from evidence not used to place the
/// prototypes, in an order independent of their values (see the module
/// docs for why and for the guarantee).
pub fn fit_risk(points: &[(f64, bool)], config: &RiskConfig) -> Result<RiskFit, RiskError> {
    validate(points, config)?;
    let (ordering, testing) = split(points);
    let ordering =
        SplitCounts { on_grid: counts_on_grid(&ordering, &config.grid), len: ordering.len() };
    let testing =
        SplitCounts { on_grid: counts_on_grid(&testing, &config.grid), len: testing.len() };
    fit_risk_counts(&ordering, &testing, config)
}

/// One split's cumulative counts on the grid: for each scale,
/// `(inside, failures inside)`, and the split's size (points beyond the
/// last scale included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitCounts {
    /// Cumulative `(inside, failures inside)` per grid scale.
    pub on_grid: Vec<(u64, u64)>,
    /// Points in the split.
    pub len: usize,
}

/// [`fit_risk`] on counts already tallied per split, for callers that
/// stream their points (audit) and cannot keep them.
///
/// The caller must split by position exactly as [`fit_risk`] does (point
/// `i` of an order independent of values goes to the ordering split when
/// `i % ORDERING_STRIDE == ORDERING_STRIDE - 1`), and count on
/// `config.grid`; then the answer equals [`fit_risk`] on the points.
pub fn fit_risk_counts(
    ordering: &SplitCounts,
    testing: &SplitCounts,
    config: &RiskConfig,
) -> Result<RiskFit, RiskError> {
    validate(&[], config)?;
    for counts in [&ordering.on_grid, &testing.on_grid] {
        if counts.len() != config.grid.len() {
            let (expected, actual) = (config.grid.len(), counts.len());
            return Err(RiskError::CountsMismatch { expected, actual });
        }
    }
    let start = choose_start(&ordering.on_grid, ordering.len, testing.len, config);
    Ok(scan(&testing.on_grid, start, config, 1.0 - config.delta))
}

/// The scale a batch of evidence would certify, for audit's "what would the
/// new evidence accept" next to the fitted scale.
///
/// It is [`fit_risk`] on that evidence, so the two answers are comparable.
pub fn accepted_scale(
    points: &[(f64, bool)],
    config: &RiskConfig,
) -> Result<Option<f64>, RiskError> {
    fit_risk(points, config).map(|fit| fit.lambda)
}

/// Checks parameters, grid and scores before anything is counted.
fn validate(points: &[(f64, bool)], config: &RiskConfig) -> Result<(), RiskError> {
    let RiskConfig { epsilon, delta, grid } = config;
    if !(*epsilon > 0.0 && *epsilon < 1.0) {
        return Err(RiskError::InvalidEpsilon { epsilon: *epsilon });
    }
    if !(*delta > 0.0 && *delta < 1.0) {
        return Err(RiskError::InvalidDelta { delta: *delta });
    }
    if grid.is_empty() {
        return Err(RiskError::BadGrid { index: 0 });
    }
    let broken =
        (0..grid.len()).find(|&i| !grid[i].is_finite() || (i > 0 && grid[i] <= grid[i - 1]));
    if let Some(index) = broken {
        return Err(RiskError::BadGrid { index });
    }
    match points.iter().position(|(s, _)| s.is_nan()) {
        Some(index) => Err(RiskError::NanScore { index }),
        None => Ok(()),
    }
}

/// Splits by position into (ordering, testing), each sorted by score.
fn split(points: &[Point]) -> (Vec<Point>, Vec<Point>) {
    let is_ordering = |i: usize| i % ORDERING_STRIDE == ORDERING_STRIDE - 1;
    let mut ordering = Vec::with_capacity(points.len() / ORDERING_STRIDE + 1);
    let mut testing = Vec::with_capacity(points.len());
    for (i, p) in points.iter().enumerate() {
        if is_ordering(i) {
            ordering.push(*p)
        } else {
            testing.push(*p)
        }
    }
    ordering.sort_by(|a, b| a.0.total_cmp(&b.0));
    testing.sort_by(|a, b| a.0.total_cmp(&b.0));
    (ordering, testing)
}

/// For each grid scale, `(inside, failures inside)` among score-sorted
/// points.
pub(crate) fn counts_on_grid(sorted: &[(f64, bool)], grid: &[f64]) -> Vec<(u64, u64)> {
    let mut out = Vec::with_capacity(grid.len());
    let (mut next, mut inside, mut failures) = (0, 0u64, 0u64);
    for &lambda in grid {
        while next < sorted.len() && sorted[next].0 <= lambda {
            inside += 1;
            failures += u64::from(sorted[next].1);
            next += 1;
        }
        out.push((inside, failures));
    }
    out
}

/// Confidence of the pessimistic failure rate used to predict a larger
/// sample's counts from a smaller one's ([`predicted_counts`]).
///
/// The plain rate is too hopeful where few points lie: an ordering split
/// with no failure among its first ten points predicts a clean start that
/// the testing split then rejects at its first step. The upper end of a
/// one-sided 75% interval keeps small counts from looking clean. On the
/// whole-fit simulation of `tests/guarantees.rs`, while the tuning rules of
/// `select_risk` were still plain rates at a 0.9 margin, it raised the
/// non-empty scopes from 123 to 136 of 200 draws; 0.5 and 0.9 did alike.
pub const PREDICTION_CONFIDENCE: f64 = 0.75;

/// `(inside, failures)` counted on few points, scaled by `factor` to the
/// counts a sample `factor` times larger would likely show, with the
/// failures taken at the pessimistic rate of [`PREDICTION_CONFIDENCE`].
pub(crate) fn predicted_counts((inside, failures): (u64, u64), factor: f64) -> (u64, u64) {
    let n = (inside as f64 * factor).round() as u64;
    let rate = clopper_pearson_upper(failures, inside, PREDICTION_CONFIDENCE);
    (n, (rate * n as f64).round() as u64)
}

/// Picks the first grid index to test, from the ordering split alone.
///
/// Each scale's ordering counts are scaled to the testing split's size
/// (pessimistically, see [`predicted_counts`]) and turned into the bound
/// the testing split would then reach; the start is
/// the scale where that predicted bound is lowest (the first such on ties),
/// the scale most likely to pass its test. The scan then climbs from there
/// to the end of the certifiable range, so the start need not be its
/// beginning; starting at the first scale predicted to pass proved fragile
/// (an ordering split that missed a sparse, risky region put the start
/// inside it and the scan ended at its first step). Any rule works for the
/// guarantee as long as it reads only the ordering split.
fn choose_start(
    counts: &[(u64, u64)],
    n_order: usize,
    n_test: usize,
    config: &RiskConfig,
) -> usize {
    if n_order == 0 {
        return 0;
    }
    let factor = n_test as f64 / n_order as f64;
    let predicted = |&counts: &(u64, u64)| {
        let (n, k) = predicted_counts(counts, factor);
        clopper_pearson_upper(k, n, 1.0 - config.delta)
    };
    let mut best = (0, f64::INFINITY);
    let mut previous = None;
    for (i, c) in counts.iter().enumerate() {
        // Equal counts predict an equal bound, never a strictly lower one.
        if previous == Some(*c) {
            continue;
        }
        previous = Some(*c);
        let bound = predicted(c);
        if bound < best.1 {
            best = (i, bound);
        }
    }
    best.0
}

/// The fixed-sequence scan of the testing split from `start` upward.
fn scan(counts: &[(u64, u64)], start: usize, config: &RiskConfig, confidence: f64) -> RiskFit {
    let mut accepted: Option<(usize, f64)> = None;
    let mut last_counts = None;
    let mut last_bound = 1.0;
    for (i, &(inside, failures)) in counts.iter().enumerate().skip(start) {
        // Equal counts give an equal bound; skip the Beta quantile then.
        if last_counts != Some((inside, failures)) {
            last_bound = clopper_pearson_upper(failures, inside, confidence);
            last_counts = Some((inside, failures));
        }
        if last_bound > config.epsilon {
            break;
        }
        accepted = Some((i, last_bound));
    }
    match accepted {
        Some((i, bound)) => certified(counts, start, i, bound, config),
        None => empty(counts, start, config, confidence),
    }
}

/// The fit when grid index `last` was the last accepted scale.
fn certified(
    counts: &[(u64, u64)],
    start: usize,
    last: usize,
    bound: f64,
    config: &RiskConfig,
) -> RiskFit {
    let (inside, failures) = counts[last];
    RiskFit {
        lambda: Some(config.grid[last]),
        n_inside: inside,
        failures_inside: failures,
        upper_bound: bound,
        steps_accepted: last + 1 - start,
        reason: None,
    }
}

/// The fit when the first tested scale was already rejected.
fn empty(counts: &[(u64, u64)], start: usize, config: &RiskConfig, confidence: f64) -> RiskFit {
    let (inside, failures) = counts.get(start).copied().unwrap_or((0, 0));
    let needed = min_clean_count(config.epsilon, confidence).unwrap_or(u64::MAX);
    let reason = format!(
        "needs at least {needed} outcomes inside, all ok, to certify epsilon = {} at delta = {}; \
         the first tested scale {} held {inside} testing situations, {failures} failed",
        config.epsilon,
        config.delta,
        config.grid.get(start).copied().unwrap_or(f64::NAN),
    );
    RiskFit {
        lambda: None,
        n_inside: inside,
        failures_inside: failures,
        upper_bound: clopper_pearson_upper(failures, inside, confidence),
        steps_accepted: 0,
        reason: Some(reason),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean(n: usize, max: f64) -> Vec<(f64, bool)> {
        (0..n).map(|i| (max * (i as f64 + 0.5) / n as f64, false)).collect()
    }

    #[test]
    fn all_ok_evidence_certifies_the_top_of_its_range() {
        let fit = fit_risk(&clean(400, 2.0), &RiskConfig::new(0.1, 0.1)).expect("valid");
        assert_eq!(fit.lambda, Some(3.0));
        assert_eq!(fit.failures_inside, 0);
        assert!(fit.upper_bound <= 0.1);
    }

    #[test]
    fn too_little_evidence_gives_an_empty_scope_with_a_reason() {
        let fit = fit_risk(&clean(20, 1.0), &RiskConfig::new(0.1, 0.1)).expect("valid");
        assert_eq!(fit.lambda, None);
        let reason = fit.reason.expect("empty scope explains itself");
        assert!(reason.starts_with("needs at least 22 outcomes inside, all ok,"), "{reason}");
    }

    #[test]
    fn failures_beyond_a_scale_stop_the_scan() {
        let mut points = clean(400, 1.0);
        // Two failures in three beyond 1, spread over both splits.
        points.extend((0..400).map(|i| (1.0 + i as f64 / 400.0, i % 3 != 0)));
        let fit = fit_risk(&points, &RiskConfig::new(0.1, 0.1)).expect("valid");
        let lambda = fit.lambda.expect("the clean half certifies");
        assert!((1.0..1.2).contains(&lambda), "{lambda}");
    }

    #[test]
    fn rejects_invalid_input() {
        let cfg = RiskConfig::new(0.1, 0.1);
        assert_eq!(fit_risk(&[(f64::NAN, false)], &cfg), Err(RiskError::NanScore { index: 0 }));
        let bad = RiskConfig { grid: vec![0.0, 0.5, 0.5], ..cfg.clone() };
        assert_eq!(fit_risk(&[], &bad), Err(RiskError::BadGrid { index: 2 }));
        let bad = RiskConfig { epsilon: 0.0, ..cfg };
        assert!(matches!(fit_risk(&[], &bad), Err(RiskError::InvalidEpsilon { .. })));
    }
}
