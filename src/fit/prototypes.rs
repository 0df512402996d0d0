//! Prototypes from an agent's `ok` situations: k-means, re-normalised
//! centroids, and each prototype's base spread.

use bureau_index::geometry::{angle, normalize};
use linfa::prelude::*;
use linfa_clustering::KMeans;
use ndarray::Array2;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256Plus;

/// The smallest spread a prototype gets, in radians. A cluster of one
/// situation (or of duplicates) has spread 0, which would make its scaled
/// radius 0 whatever lambda is; 0.05 rad is far below the angles between
/// distinct sentences (typically 0.6 and up), so it claims almost nothing.
pub const MIN_SPREAD: f32 = 0.05;

/// k-means restarts. linfa's default of 10 dominates fitting time; the
/// calibrated scale absorbs most of the difference between restarts.
const N_RUNS: usize = 3;

/// A prototype before scaling: a unit centre and its base spread.
#[derive(Debug, Clone)]
pub struct Seed {
    /// Unit centre.
    pub centre: Vec<f32>,
    /// Base spread s: the `quantile` of its members' angles to the centre.
    pub spread: f32,
    /// Number of situations assigned to it.
    pub members: usize,
}

/// How many prototypes to fit to `n` situations: one per `per_prototype`
/// situations, at least 1 and at most `max_k`.
///
/// Fewer, wider caps claim the space between groups of examples where no
/// evidence lies; more, smaller caps stay close to the examples. A few dozen
/// situations per cap keeps each spread estimate stable.
pub fn choose_k(n: usize, per_prototype: usize, max_k: usize) -> usize {
    (n / per_prototype.max(1)).clamp(1, max_k.max(1))
}

/// Fits `k` prototypes to unit vectors by k-means, then measures each one's
/// spread as the `quantile` of its members' angles.
pub fn fit_seeds(points: &[Vec<f32>], k: usize, quantile: f64, seed: u64) -> Vec<Seed> {
    spreads(points, fit_centres(points, k, seed), quantile)
}

/// Fits `k` unit centres to unit vectors by k-means (fewer when there are
/// fewer points); one mean centre if k-means fails.
pub fn fit_centres(points: &[Vec<f32>], k: usize, seed: u64) -> Vec<Vec<f32>> {
    debug_assert!(!points.is_empty());
    let dim = points[0].len();
    let k = k.min(points.len()).max(1);
    let flat: Vec<f32> = points.iter().flatten().copied().collect();
    // Invariant: every point has length dim, so the shape matches.
    let data = Array2::from_shape_vec((points.len(), dim), flat).expect("rows of equal length");
    kmeans_centres(data, k, seed).unwrap_or_else(|| mean_centre(points))
}

fn kmeans_centres(data: Array2<f32>, k: usize, seed: u64) -> Option<Vec<Vec<f32>>> {
    let rng = Xoshiro256Plus::seed_from_u64(seed);
    let dataset = DatasetBase::from(data);
    let model = KMeans::params_with_rng(k, rng)
        .n_runs(N_RUNS)
        .max_n_iterations(100)
        .tolerance(1e-4)
        .fit(&dataset);
    let model = match model {
        Ok(model) => model,
        Err(error) => {
            tracing::warn!(%error, "k-means failed; falling back to one prototype at the mean");
            return None;
        }
    };
    let centres = model
        .centroids()
        .rows()
        .into_iter()
        .filter_map(|row| {
            let mut c = row.to_vec();
            normalize(&mut c).ok().map(|()| c)
        })
        .collect::<Vec<_>>();
    (!centres.is_empty()).then_some(centres)
}

fn mean_centre(points: &[Vec<f32>]) -> Vec<Vec<f32>> {
    let mut mean = vec![0.0f32; points[0].len()];
    for p in points {
        mean.iter_mut().zip(p).for_each(|(m, a)| *m += a);
    }
    // A zero mean (antipodal points) falls back to the first point.
    match normalize(&mut mean) {
        Ok(()) => vec![mean],
        Err(_) => vec![points[0].clone()],
    }
}

/// Assigns each point to its nearest centre and measures the spreads;
/// centres left with no member are dropped.
pub fn spreads(points: &[Vec<f32>], centres: Vec<Vec<f32>>, quantile: f64) -> Vec<Seed> {
    let mut angles: Vec<Vec<f32>> = vec![Vec::new(); centres.len()];
    for p in points {
        let (i, theta) = nearest(p, &centres);
        angles[i].push(theta);
    }
    centres
        .into_iter()
        .zip(angles)
        .filter(|(_, a)| !a.is_empty())
        .map(|(centre, mut a)| {
            a.sort_by(f32::total_cmp);
            let rank = ((a.len() as f64 * quantile).ceil() as usize).clamp(1, a.len());
            Seed { centre, spread: a[rank - 1].max(MIN_SPREAD), members: a.len() }
        })
        .collect()
}

/// The nearest centre to `x` and the angle to it.
pub fn nearest(x: &[f32], centres: &[Vec<f32>]) -> (usize, f32) {
    centres
        .iter()
        .map(|c| angle(x, c))
        .enumerate()
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap_or((0, f32::INFINITY))
}

/// The conformity score of `x`: min over prototypes of angle / spread. `x`
/// lies inside the scope scaled by lambda exactly when its score <= lambda.
pub fn score(x: &[f32], seeds: &[Seed]) -> f64 {
    seeds
        .iter()
        .map(|s| f64::from(angle(x, &s.centre)) / f64::from(s.spread))
        .fold(f64::INFINITY, f64::min)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(theta: f32) -> Vec<f32> {
        vec![theta.cos(), theta.sin(), 0.0]
    }

    #[test]
    fn two_groups_give_two_tight_prototypes() {
        let points: Vec<Vec<f32>> = (0..20)
            .map(|i| at(i as f32 * 0.01))
            .chain((0..20).map(|i| at(2.0 + i as f32 * 0.01)))
            .collect();
        let seeds = fit_seeds(&points, 2, 0.9, 1);
        assert_eq!(seeds.len(), 2);
        for s in &seeds {
            assert_eq!(s.members, 20);
            assert!(s.spread < 0.15, "spread {}", s.spread);
        }
        // The midpoint between the groups is far outside both caps.
        assert!(score(&at(1.0), &seeds) > 5.0);
    }

    #[test]
    fn duplicates_get_the_minimum_spread() {
        let seeds = fit_seeds(&[at(0.3), at(0.3), at(0.3)], 1, 0.9, 1);
        assert_eq!(seeds[0].spread, MIN_SPREAD);
    }

    #[test]
    fn k_rule() {
        assert_eq!(choose_k(0, 40, 32), 1);
        assert_eq!(choose_k(1500, 40, 32), 32);
        assert_eq!(choose_k(400, 40, 32), 10);
    }
}
