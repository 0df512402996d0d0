//! Simulation checks of the guarantees claimed by the fitting code.
//!
//! Each test repeats a fit on many seeded draws from a distribution whose
//! true risk or coverage is known exactly, counts how often the claim fails,
//! and compares that frequency with what the theory allows, plus three
//! standard errors of the count itself. Each also checks the procedure is
//! not vacuous, so a change that made it useless (always empty) or unsound
//! would both fail here.

use bureau::fit::conformal::conformal_scale;
use bureau::fit::risk::{default_grid, fit_risk, RiskConfig};
use bureau::fit::{fit_risk_scope, FitOptions, RiskLevel};
use bureau::store::{EvidenceRow, Outcome, Source};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

/// Draws per setting: enough for a standard error near 0.01 at delta = 0.1.
const DRAWS: u64 = 1000;

/// Sub-steps per grid cell when integrating the true risk (midpoint rule).
const SUBSTEPS: usize = 400;

/// A known evidence distribution on scores in [0, 3].
struct Setting {
    /// Maps a uniform draw to a score (inverse cdf).
    sample: fn(f64) -> f64,
    /// Score density, for the true risk.
    density: fn(f64) -> f64,
    /// Failure probability given the score.
    fail: fn(f64) -> f64,
}

/// What the repeated fits did.
#[derive(Debug)]
struct Tally {
    /// Fits whose true risk exceeds epsilon: false claims.
    violations: u64,
    /// Fits with a non-empty scope.
    non_empty: u64,
    /// Mean certified scale over non-empty fits.
    mean_lambda: f64,
}

fn logistic(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

impl Setting {
    /// True conditional risk `P(fail | score <= lambda)` at each scale of
    /// the default grid, by the midpoint rule.
    fn true_risk(&self, grid: &[f64]) -> Vec<f64> {
        let (mut mass, mut bad, mut prev) = (0.0, 0.0, 0.0);
        let mut out = Vec::with_capacity(grid.len());
        for &lambda in grid {
            let h = (lambda - prev) / SUBSTEPS as f64;
            for j in 0..SUBSTEPS {
                let s = prev + (j as f64 + 0.5) * h;
                mass += (self.density)(s) * h;
                bad += (self.density)(s) * (self.fail)(s) * h;
            }
            prev = lambda;
            out.push(if mass > 0.0 { bad / mass } else { 0.0 });
        }
        out
    }

    /// One calibration set of `n` points, in draw order.
    fn draw(&self, n: usize, rng: &mut Xoshiro256PlusPlus) -> Vec<(f64, bool)> {
        (0..n)
            .map(|_| {
                let s = (self.sample)(rng.gen::<f64>());
                (s, rng.gen::<f64>() < (self.fail)(s))
            })
            .collect()
    }

    /// Repeats the risk-mode fit and counts false claims.
    fn tally(&self, n: usize, epsilon: f64, delta: f64, seed: u64) -> Tally {
        let config = RiskConfig::new(epsilon, delta);
        let risk = self.true_risk(&config.grid);
        let (mut violations, mut non_empty, mut sum) = (0, 0, 0.0);
        for draw in 0..DRAWS {
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed.wrapping_add(draw));
            let fit = fit_risk(&self.draw(n, &mut rng), &config).expect("valid config");
            let Some(lambda) = fit.lambda else { continue };
            let index = grid_index(&config.grid, lambda);
            non_empty += 1;
            sum += lambda;
            violations += u64::from(risk[index] > epsilon);
        }
        Tally { violations, non_empty, mean_lambda: sum / non_empty.max(1) as f64 }
    }
}

/// Position of a certified scale in the grid it came from.
fn grid_index(grid: &[f64], lambda: f64) -> usize {
    grid.iter().position(|&g| g == lambda).expect("fit returns grid scales")
}

/// The largest frequency of false claims the guarantee allows over
/// [`DRAWS`] fits: delta plus three binomial standard errors.
fn allowed(delta: f64) -> f64 {
    delta + 3.0 * (delta * (1.0 - delta) / DRAWS as f64).sqrt()
}

fn frequency(count: u64) -> f64 {
    count as f64 / DRAWS as f64
}

/// Uniform scores on [0, 3], failures rising logistically around 2.
const RISING: Setting =
    Setting { sample: |u| 3.0 * u, density: |_| 1.0 / 3.0, fail: |s| logistic((s - 2.0) / 0.3) };

/// Scores denser at large values (density 2s/9); a small, very risky core
/// below 0.4, a clean middle, failures rising beyond 2.4. The true risk
/// falls, then rises: it exceeds 0.05 below about 1.25 and again near 2.6.
const RISKY_CORE: Setting = Setting {
    sample: |u| 3.0 * u.sqrt(),
    density: |s| 2.0 * s / 9.0,
    fail: |s| {
        if s < 0.4 {
            0.4
        } else {
            0.01 + logistic((s - 2.8) / 0.1)
        }
    },
};

/// Risk just above epsilon = 0.1 at every scale: any scope is a false claim.
const BARELY_TOO_RISKY: Setting =
    Setting { sample: |u| 3.0 * u, density: |_| 1.0 / 3.0, fail: |_| 0.105 };

#[test]
fn risk_mode_rising_risk_is_controlled_and_useful() {
    let (epsilon, delta) = (0.1, 0.1);
    let tally = RISING.tally(500, epsilon, delta, 1);
    eprintln!("rising risk: {tally:?}");
    assert!(frequency(tally.violations) <= allowed(delta), "{tally:?}");
    // Not vacuous: nearly every draw certifies a scope, and a large one (the
    // true risk crosses 0.1 at 1.98; measured with the seeds below: 992 of
    // 1000 non-empty, mean 1.82, 71 false claims).
    assert!(frequency(tally.non_empty) >= 0.9, "{tally:?}");
    assert!(tally.mean_lambda >= 1.6, "{tally:?}");
}

#[test]
fn risk_mode_non_monotone_risk_is_controlled_and_useful() {
    let (epsilon, delta) = (0.05, 0.05);
    let tally = RISKY_CORE.tally(1000, epsilon, delta, 1_000_000);
    eprintln!("risky core: {tally:?}");
    assert!(frequency(tally.violations) <= allowed(delta), "{tally:?}");
    // The risk is below 0.05 only between 1.27 and 2.75, and 0.4 in the
    // sparse core; measured: 865 of 1000 non-empty, mean 2.66, 31 false.
    assert!(frequency(tally.non_empty) >= 0.8, "{tally:?}");
    assert!(tally.mean_lambda >= 2.3, "{tally:?}");
}

#[test]
fn risk_mode_uniformly_excessive_risk_gives_empty_scopes() {
    let (epsilon, delta) = (0.1, 0.1);
    let tally = BARELY_TOO_RISKY.tally(500, epsilon, delta, 2_000_000);
    eprintln!("barely too risky: {tally:?}");
    // Every non-empty scope is a false claim here; measured: 45 of 1000.
    assert_eq!(tally.violations, tally.non_empty);
    assert!(frequency(tally.violations) <= allowed(delta), "{tally:?}");
}

#[test]
fn plug_in_estimate_fails_the_same_count() {
    // The counting test has teeth: certifying the largest scale whose
    // empirical risk is at most epsilon, with no bound, makes false claims
    // far more often than delta on the rising setting.
    let grid = default_grid();
    let risk = RISING.true_risk(&grid);
    let mut violations = 0;
    for draw in 0..DRAWS {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(3_000_000 + draw);
        let points = RISING.draw(500, &mut rng);
        let empirical = |lambda: f64| {
            let inside = points.iter().filter(|p| p.0 <= lambda);
            let (n, k) = inside.fold((0, 0), |(n, k), p| (n + 1, k + u64::from(p.1)));
            k as f64 <= 0.1 * n as f64
        };
        let last = (0..grid.len()).take_while(|&i| empirical(grid[i])).last();
        violations += u64::from(last.is_some_and(|i| risk[i] > 0.1));
    }
    assert!(frequency(violations) > 0.3, "plug-in violations {violations}");
}

/// Mean held-out coverage of the conformal scale over [`DRAWS`] draws of
/// `n` exponential(1) scores, whose cdf `1 - exp(-lambda)` gives the exact
/// coverage of each fitted scale.
fn mean_conformal_coverage(n: usize, alpha: f64, seed: u64) -> f64 {
    let mut total = 0.0;
    for draw in 0..DRAWS {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed.wrapping_add(draw));
        let scores: Vec<f64> = (0..n).map(|_| -(1.0 - rng.gen::<f64>()).ln()).collect();
        let lambda = conformal_scale(&scores, alpha).expect("n is large enough");
        total += 1.0 - (-lambda).exp();
    }
    total / DRAWS as f64
}

#[test]
fn coverage_mode_holds_its_level_and_no_more() {
    for (n, alpha) in [(200, 0.1), (100, 0.05)] {
        let mean = mean_conformal_coverage(n, alpha, 4_000_000);
        // Per-draw coverage is Beta(r, n + 1 - r), sd below 0.03 here, so
        // the mean of 1000 has sd below 0.001.
        let tolerance = 0.003;
        let ceiling = 1.0 - alpha + 1.0 / (n as f64 + 1.0);
        eprintln!("conformal n = {n}, alpha = {alpha}: mean coverage {mean:.4}");
        assert!(mean >= 1.0 - alpha - tolerance, "{mean}");
        assert!(mean <= ceiling + tolerance, "{mean}");
    }
}

// ---------------------------------------------------------------------------
// The whole risk-mode fit: prototype selection on training evidence of both
// kinds, then the certified scale on eval evidence.

/// Fits per setting of the whole pipeline: each runs k-means and the risk
/// selection, so fewer than the score-level tests.
const FIT_DRAWS: u64 = 200;

/// Three clusters on the 2-sphere: `x` is a cluster centre plus Gaussian
/// noise, normalised. The agent is reliable near the first centre (its
/// failure rate climbs past 0.6 rad from it), shaky at the second, middling
/// at the third.
const CENTRES: [[f32; 3]; 3] = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];

fn unit_noise(centre: &[f32; 3], rng: &mut Xoshiro256PlusPlus) -> Vec<f32> {
    // Box-Muller, sd 0.25 per coordinate.
    let mut normal = || {
        let (u, v): (f64, f64) = (rng.gen::<f64>().max(1e-12), rng.gen());
        ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos() * 0.25) as f32
    };
    let mut x: Vec<f32> = centre.iter().map(|c| c + normal()).collect();
    let norm = x.iter().map(|a| a * a).sum::<f32>().sqrt();
    x.iter_mut().for_each(|a| *a /= norm);
    x
}

fn angle3(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>().clamp(-1.0, 1.0).acos()
}

/// The failure probability at `x`, drawn from cluster `cluster`.
fn fail_probability(cluster: usize, x: &[f32]) -> f64 {
    match cluster {
        0 => 0.02 + 0.5 * logistic((f64::from(angle3(x, &CENTRES[0])) - 0.6) / 0.05),
        1 => 0.35,
        _ => 0.12,
    }
}

/// `n` situations with their failure probabilities.
fn situations(n: usize, rng: &mut Xoshiro256PlusPlus) -> Vec<(Vec<f32>, f64)> {
    (0..n)
        .map(|_| {
            let cluster = rng.gen_range(0..CENTRES.len());
            let x = unit_noise(&CENTRES[cluster], rng);
            let p = fail_probability(cluster, &x);
            (x, p)
        })
        .collect()
}

fn evidence(n: usize, source: Source, rng: &mut Xoshiro256PlusPlus) -> Vec<EvidenceRow> {
    situations(n, rng)
        .into_iter()
        .map(|(embedding, p)| {
            let outcome = if rng.gen::<f64>() < p { Outcome::Fail } else { Outcome::Ok };
            EvidenceRow { situation_id: 0, outcome, source, embedding }
        })
        .collect()
}

#[test]
fn risk_mode_whole_fit_is_controlled_and_useful() {
    let level = RiskLevel { epsilon: 0.1, delta: 0.1 };
    // The true risk of a scope: the mean failure probability of a large
    // fresh sample's situations inside it (sampling error near 0.002).
    let fresh = situations(60_000, &mut Xoshiro256PlusPlus::seed_from_u64(5_000_000));
    let (mut violations, mut non_empty, mut share) = (0u64, 0u64, 0.0);
    for draw in 0..FIT_DRAWS {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(6_000_000 + draw);
        let mut rows = evidence(900, Source::Train, &mut rng);
        rows.extend(evidence(900, Source::Eval, &mut rng));
        let options = FitOptions { seed: draw, ..FitOptions::default() };
        let fit = fit_risk_scope(&rows, &[], &options, level, "simulated").expect("valid level");
        if fit.prototypes.is_empty() {
            eprintln!(
                "DEBUG {:?} k {} cands {:?}",
                fit.record.reason,
                fit.record.k,
                fit.record
                    .k_candidates
                    .iter()
                    .filter(|c| c.ok_certified.unwrap_or(0.0) > 0.0)
                    .count()
            );
            continue;
        }
        let inside: Vec<f64> = fresh
            .iter()
            .filter(|(x, _)| fit.prototypes.iter().any(|p| angle3(x, &p.centre) <= p.radius))
            .map(|(_, p)| *p)
            .collect();
        let risk = inside.iter().sum::<f64>() / inside.len().max(1) as f64;
        non_empty += 1;
        share += inside.len() as f64 / fresh.len() as f64;
        violations += u64::from(risk > level.epsilon);
    }
    let mean_share = share / non_empty.max(1) as f64;
    eprintln!("whole fit: {non_empty} non-empty, {violations} false, mean share {mean_share:.3}");
    let allowed = level.delta + 3.0 * (level.delta * (1.0 - level.delta) / FIT_DRAWS as f64).sqrt();
    assert!(violations as f64 / FIT_DRAWS as f64 <= allowed, "{violations} false claims");
    // Not vacuous: most draws find the reliable cluster (a third of the
    // mass) and often part of the middling one; measured 142 of 200
    // non-empty, 5 false claims, mean share 0.507.
    assert!(non_empty as f64 >= 0.6 * FIT_DRAWS as f64, "{non_empty} non-empty");
    assert!(mean_share >= 0.3, "mean share {mean_share}");
}
