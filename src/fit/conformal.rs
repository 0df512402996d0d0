//! Coverage mode: the split-conformal scale for an agent with `ok` evidence
//! only.
//!
//! Each held-out calibration situation is scored by
//! `min_i theta(x, c_i) / s_i`, the smallest scale at which some prototype's
//! cap would hold it. Taking the `ceil((n + 1)(1 - alpha))`-th smallest score
//! as the scale lambda gives, for a fresh situation exchangeable with the
//! calibration ones, `P(score <= lambda) >= 1 - alpha` (Vovk et al. 2005;
//! Lei et al. 2018, split conformal). With continuous scores the coverage is
//! also at most `1 - alpha + 1 / (n + 1)`, so the scope claims little beyond
//! the agent's demonstrated competence. `tests/guarantees.rs` checks both
//! ends by simulation.

use thiserror::Error;

/// Why a conformal scale could not be computed.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum CalibrationError {
    /// `alpha` must lie strictly between 0 and 1.
    #[error("alpha must be in (0, 1), got {alpha}")]
    InvalidAlpha {
        /// The rejected miscoverage level.
        alpha: f64,
    },
    /// The required rank exceeds the number of calibration situations, so
    /// no finite scale has the promised coverage.
    #[error("coverage 1 - {alpha} needs at least {needed} calibration situations, got {got}")]
    TooFewSituations {
        /// The miscoverage level asked for.
        alpha: f64,
        /// The smallest calibration size that works: `ceil(1 / alpha) - 1`.
        needed: usize,
        /// How many scores were given.
        got: usize,
    },
    /// A score was NaN; it cannot be ranked, and dropping it would break
    /// exchangeability.
    #[error("calibration score at index {index} is nan")]
    NanScore {
        /// Position of the offending score in the input.
        index: usize,
    },
}

/// Slack for floating rounding in `(n + 1)(1 - alpha)`: 20 * 0.95 is
/// 19.000000000000004 in binary, whose ceiling would cost a whole rank.
const RANK_SLACK: f64 = 1e-9;

/// The split-conformal scale: the `ceil((n + 1)(1 - alpha))`-th smallest
/// calibration score (1-based).
///
/// The scores must come from situations not used to place the prototypes
/// or their spreads, and be in no particular order. Infinite scores are
/// allowed (a situation no cap can reach); NaN is an error. When the rank
/// exceeds `n` the answer would be an unbounded scope, so the error says how
/// many calibration situations are needed instead.
pub fn conformal_scale(scores: &[f64], alpha: f64) -> Result<f64, CalibrationError> {
    if !(alpha > 0.0 && alpha < 1.0) {
        return Err(CalibrationError::InvalidAlpha { alpha });
    }
    if let Some(index) = scores.iter().position(|s| s.is_nan()) {
        return Err(CalibrationError::NanScore { index });
    }
    let n = scores.len();
    let rank = conformal_rank(n, alpha);
    if rank > n {
        return Err(CalibrationError::TooFewSituations {
            alpha,
            needed: min_calibration_size(alpha),
            got: n,
        });
    }
    let mut sorted = scores.to_vec();
    sorted.sort_by(f64::total_cmp);
    // rank is in 1..=n here: it is at least ceil(1 - alpha) = 1 for n >= 0.
    Ok(sorted[rank - 1])
}

/// The 1-based rank `ceil((n + 1)(1 - alpha))` of the conformal score.
///
/// Public so reports can say which calibration situation set the scale.
pub fn conformal_rank(n: usize, alpha: f64) -> usize {
    let exact = (n as f64 + 1.0) * (1.0 - alpha);
    ((exact - RANK_SLACK).ceil().max(1.0)) as usize
}

/// The smallest calibration size for which [`conformal_scale`] succeeds at
/// `alpha`: `ceil(1 / alpha) - 1`, settled against [`conformal_rank`] so the
/// two never disagree.
pub fn min_calibration_size(alpha: f64) -> usize {
    let guess = ((1.0 / alpha - RANK_SLACK).ceil() as usize).saturating_sub(2);
    (guess..).find(|&n| conformal_rank(n, alpha) <= n).unwrap_or(guess)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_conformal_rank() {
        let scores: Vec<f64> = (1..=19).rev().map(f64::from).collect();
        // n = 19, alpha = 0.1: rank ceil(20 * 0.9) = 18.
        assert_eq!(conformal_scale(&scores, 0.1), Ok(18.0));
        // alpha = 0.05: rank ceil(20 * 0.95) = 19, despite float rounding.
        assert_eq!(conformal_scale(&scores, 0.05), Ok(19.0));
    }

    #[test]
    fn too_few_situations_says_how_many() {
        let scores = [0.5; 8];
        let err = conformal_scale(&scores, 0.1).expect_err("rank 9 of 8");
        assert_eq!(err, CalibrationError::TooFewSituations { alpha: 0.1, needed: 9, got: 8 });
        assert!(conformal_scale(&[0.5; 9], 0.1).is_ok());
        assert_eq!(min_calibration_size(0.05), 19);
        assert_eq!(min_calibration_size(0.3), 3);
        assert_eq!(
            conformal_scale(&[], 0.5).map_err(|e| e.to_string()),
            Err("coverage 1 - 0.5 needs at least 1 calibration situations, got 0".into())
        );
    }

    #[test]
    fn rejects_nan_and_bad_alpha() {
        assert_eq!(
            conformal_scale(&[0.1, f64::NAN], 0.5),
            Err(CalibrationError::NanScore { index: 1 })
        );
        assert!(matches!(conformal_scale(&[0.1], 1.0), Err(CalibrationError::InvalidAlpha { .. })));
    }
}
