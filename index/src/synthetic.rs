//! Seeded synthetic bureaus for benchmarks and recall tests: clustered
//! prototype centres with heavy-tailed radii, and situations drawn from the
//! same clusters so that they fall inside some caps.
//!
//! Centres of one cluster lie at about `atan(spread)` from the cluster's
//! mean direction, with independent noise in every dimension; radii follow a
//! Pareto law (`radius_scale * u^(-1/tail)`, capped at `max_radius`), so most
//! caps are narrow and a few are wide, as fitted scopes are.

use crate::{Cap, Prototype};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    /// Number of prototypes.
    pub prototypes: usize,
    /// Prototypes per agent (consecutive prototype numbers share an agent).
    pub per_agent: usize,
    /// Number of situations.
    pub situations: usize,
    /// Dimension.
    pub dim: usize,
    /// Prototypes per cluster, on average.
    pub cluster_size: usize,
    /// Noise scale around a cluster's direction.
    pub spread: f32,
    /// Median-ish radius: the Pareto law's scale.
    pub radius_scale: f32,
    /// Pareto tail index; smaller is heavier.
    pub tail: f32,
    /// Largest radius.
    pub max_radius: f32,
    /// Seed of every draw.
    pub seed: u64,
}

impl Spec {
    /// A spec with the benchmark's defaults for `prototypes` prototypes and
    /// `situations` situations in 384 dimensions.
    pub fn new(prototypes: usize, situations: usize, seed: u64) -> Self {
        Spec {
            prototypes,
            per_agent: 8,
            situations,
            dim: 384,
            cluster_size: 200,
            spread: 0.6,
            radius_scale: 0.25,
            tail: 2.5,
            max_radius: 1.4,
            seed,
        }
    }
}

/// A generated bureau.
#[derive(Debug, Clone)]
pub struct Synthetic {
    /// Prototypes, agent `i / per_agent` for prototype `i`.
    pub prototypes: Vec<Prototype>,
    /// Situations, row-major, `dim` values each, unit length.
    pub situations: Vec<f32>,
}

/// A standard normal draw (Box-Muller).
fn normal(rng: &mut impl Rng) -> f32 {
    let u: f32 = rng.gen_range(f32::EPSILON..1.0);
    let v: f32 = rng.gen_range(0.0..std::f32::consts::TAU);
    (-2.0 * u.ln()).sqrt() * v.cos()
}

/// `v` scaled to unit length; `v` is a sum with a unit vector and small
/// noise, so its norm is far from 0.
fn unit(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|a| a * a).sum::<f32>().sqrt();
    v.iter_mut().for_each(|a| *a /= norm);
    v
}

/// A uniformly random direction.
fn direction(rng: &mut impl Rng, dim: usize) -> Vec<f32> {
    unit((0..dim).map(|_| normal(rng)).collect())
}

/// A point near `mean`: noise of norm about `spread` added, then normalised.
fn near(rng: &mut impl Rng, mean: &[f32], spread: f32) -> Vec<f32> {
    let scale = spread / (mean.len() as f32).sqrt();
    unit(mean.iter().map(|m| m + scale * normal(rng)).collect())
}

/// Generates the bureau `spec` describes.
pub fn clustered(spec: &Spec) -> Synthetic {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(spec.seed);
    let clusters = spec.prototypes.div_ceil(spec.cluster_size.max(1)).max(1);
    let means: Vec<Vec<f32>> = (0..clusters).map(|_| direction(&mut rng, spec.dim)).collect();
    let prototypes = (0..spec.prototypes)
        .map(|i| {
            let mean = &means[rng.gen_range(0..clusters)];
            let u: f32 = rng.gen_range(f32::EPSILON..1.0);
            let radius = (spec.radius_scale * u.powf(-1.0 / spec.tail))
                .min(spec.max_radius)
                .clamp(1e-3, std::f32::consts::PI);
            let centre = near(&mut rng, mean, spec.spread);
            // Invariant: `near` returns a unit vector and the radius is
            // clamped into (0, pi].
            let cap = Cap::try_new(centre, radius).expect("generated caps are valid");
            Prototype { agent: (i / spec.per_agent.max(1)) as u32, cap }
        })
        .collect();
    let situations = (0..spec.situations)
        .flat_map(|_| {
            let mean = &means[rng.gen_range(0..clusters)];
            near(&mut rng, mean, spec.spread)
        })
        .collect();
    Synthetic { prototypes, situations }
}
