//! Exact binomial confidence bounds for the failure rate inside a scope.
//!
//! Fitting (risk mode) and audit both ask one question of a count: with `k`
//! failures among `n` situations inside a scope, how high could the true
//! failure rate plausibly be? The answer used throughout bureau is the
//! Clopper-Pearson bound (Clopper and Pearson, 1934), which inverts the
//! binomial test exactly. It is conservative: its coverage is at least the
//! nominal confidence for every true rate and every `n`, which is what a
//! guarantee needs; normal approximations undercover at small `n` and at
//! rates near 0, exactly where scopes are certified.
//!
//! The quantiles come from the Beta distribution of `statrs` 0.18: the
//! bounds are the `Beta(k, n - k + 1)` and `Beta(k + 1, n - k)` quantiles.
//! All functions are pure and never fail: degenerate counts (`n = 0`, `k = 0`,
//! `k = n`) have closed forms and return the widest honest answer.

use serde::Serialize;
use statrs::distribution::{Beta, ContinuousCDF};

/// A closed interval `[low, high]` of rates in `[0, 1]`.
///
/// Reports and audits serialise it as it is, so a consumer sees the same
/// two numbers the verdict was computed from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Interval {
    /// Lower end of the interval.
    pub low: f64,
    /// Upper end of the interval.
    pub high: f64,
}

/// Two-sided Clopper-Pearson interval for a failure rate.
///
/// Each tail gets `(1 - confidence) / 2`, so the interval holds the true
/// rate with probability at least `confidence`. Audit uses it to say how
/// well the risk inside a scope is known, not only how bad it could be.
/// `n = 0` carries no information and yields `[0, 1]`; `k = 0` pins the low
/// end at 0 and `k = n` the high end at 1. `failures` above `n` is treated
/// as `n` (counts come from the same rows, so this only guards arithmetic).
pub fn clopper_pearson(failures: u64, n: u64, confidence: f64) -> Interval {
    let k = failures.min(n);
    let tail = (1.0 - clamp_unit(confidence)) / 2.0;
    if n == 0 {
        return Interval { low: 0.0, high: 1.0 };
    }
    let low = if k == 0 { 0.0 } else { beta_quantile(k as f64, (n - k + 1) as f64, tail) };
    let high = if k == n { 1.0 } else { beta_quantile((k + 1) as f64, (n - k) as f64, 1.0 - tail) };
    Interval { low, high }
}

/// One-sided Clopper-Pearson upper bound on a failure rate.
///
/// With probability at least `confidence` (that is `1 - delta`) the true rate
/// is at or below the returned value. Risk mode certifies a scale when this
/// bound is at or below epsilon; a one-sided bound spends all of `delta` on
/// the side that matters and so certifies with fewer situations than the
/// two-sided interval. It is the `Beta(k + 1, n - k)` quantile at
/// `confidence`; with `k = 0` this is `1 - (1 - confidence)^(1 / n)`.
/// `n = 0` or `k >= n` returns 1: nothing rules out certain failure.
pub fn clopper_pearson_upper(failures: u64, n: u64, confidence: f64) -> f64 {
    if n == 0 || failures >= n {
        return 1.0;
    }
    let k = failures;
    beta_quantile((k + 1) as f64, (n - k) as f64, clamp_unit(confidence))
}

/// The smallest number of situations, all `ok`, whose upper bound at
/// `confidence` reaches `epsilon`.
///
/// This is the floor below which no scope can ever be certified, whatever
/// the evidence says; an empty scope reports it so the operator knows how
/// much evidence to collect. With no failures the bound is
/// `1 - (1 - confidence)^(1 / n)`, so the answer is
/// `ceil(ln(1 - confidence) / ln(1 - epsilon))`. Returns `None` when no
/// finite count suffices (`epsilon <= 0` or `confidence >= 1`).
pub fn min_clean_count(epsilon: f64, confidence: f64) -> Option<u64> {
    if !(epsilon > 0.0 && confidence < 1.0) {
        return None;
    }
    if epsilon >= 1.0 || confidence <= 0.0 {
        return Some(1);
    }
    let guess = ((1.0 - confidence).ln() / (1.0 - epsilon).ln()).ceil();
    // Floating rounding can put the guess one off either way; settle it
    // against the bound itself so the two can never disagree.
    let mut n = (guess.max(1.0) as u64).saturating_sub(1).max(1);
    while clopper_pearson_upper(0, n, confidence) > epsilon {
        n += 1;
    }
    Some(n)
}

/// The `p`-quantile of `Beta(a, b)`.
///
/// Callers pass `a >= 1` and `b >= 1` (they are `k + 1` and `n - k` with
/// `k < n`, or `k` and `n - k + 1` with `k >= 1`), so construction cannot
/// fail.
fn beta_quantile(a: f64, b: f64, p: f64) -> f64 {
    debug_assert!(a >= 1.0 && b >= 1.0, "beta shapes must be at least 1");
    let beta = Beta::new(a, b).expect("beta shapes are finite and at least 1");
    beta.inverse_cdf(clamp_unit(p))
}

/// Clamps a probability into `[0, 1]`; NaN becomes 1, the conservative end.
fn clamp_unit(p: f64) -> f64 {
    if p.is_nan() {
        1.0
    } else {
        p.clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn upper_with_no_failures_has_closed_form() {
        let u = clopper_pearson_upper(0, 10, 0.95);
        assert!(close(u, 1.0 - 0.05f64.powf(0.1), 1e-9), "{u}");
        assert!(close(u, 0.2589, 1e-4));
    }

    #[test]
    fn upper_matches_reference_values() {
        // Reference: the rate p solving P(Binomial(n, p) <= k) = 1 - conf,
        // found by bisection on the exact binomial cdf (Python math.comb).
        assert!(close(clopper_pearson_upper(2, 20, 0.95), 0.282_618_5, 1e-6));
        assert!(close(clopper_pearson_upper(5, 100, 0.90), 0.090_771_5, 1e-6));
    }

    #[test]
    fn degenerate_counts_give_widest_bounds() {
        assert_eq!(clopper_pearson_upper(0, 0, 0.9), 1.0);
        assert_eq!(clopper_pearson_upper(7, 7, 0.9), 1.0);
        assert_eq!(clopper_pearson(0, 0, 0.95), Interval { low: 0.0, high: 1.0 });
        assert_eq!(clopper_pearson(0, 10, 0.95).low, 0.0);
        assert_eq!(clopper_pearson(10, 10, 0.95).high, 1.0);
    }

    #[test]
    fn two_sided_matches_reference_values() {
        // Same bisection reference as above, each tail at 0.025.
        let i = clopper_pearson(3, 10, 0.95);
        assert!(close(i.low, 0.066_739_5, 1e-6), "{i:?}");
        assert!(close(i.high, 0.652_452_9, 1e-6), "{i:?}");
        // k = 0: the high end is 1 - (alpha / 2)^(1 / n).
        let z = clopper_pearson(0, 10, 0.95);
        assert!(close(z.high, 1.0 - 0.025f64.powf(0.1), 1e-9));
    }

    #[test]
    fn min_clean_count_is_the_first_certifying_count() {
        // 1 - 0.1^(1/n) <= 0.1 first at n = 22 (ln 0.1 / ln 0.9 = 21.85).
        assert_eq!(min_clean_count(0.1, 0.9), Some(22));
        assert_eq!(min_clean_count(0.05, 0.95), Some(59));
        assert_eq!(min_clean_count(0.0, 0.9), None);
        for (eps, conf) in [(0.1, 0.9), (0.02, 0.99), (0.3, 0.5)] {
            let n = min_clean_count(eps, conf).expect("finite for these inputs");
            assert!(clopper_pearson_upper(0, n, conf) <= eps);
            assert!(n == 1 || clopper_pearson_upper(0, n - 1, conf) > eps);
        }
    }
}
