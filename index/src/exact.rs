//! The exact membership engine: blocks of situations times all prototype
//! centres as one matrix product, thresholded per prototype.

use crate::geometry::{angle_from_cos, check_unit, depth};
use crate::hnsw::Graphs;
use crate::{Cap, IndexError};
use ndarray::{s, Array2, ArrayView2, Axis};
use rayon::prelude::*;
use std::sync::Arc;

/// Upper bound on the cells of one block's score matrix (situations x
/// prototypes), so that memory stays near 64 MiB whatever the batch size.
const BLOCK_CELLS: usize = 1 << 24;

/// One of an agent's caps, as handed to the index.
#[derive(Debug, Clone, PartialEq)]
pub struct Prototype {
    /// Dense agent number, `0..n_agents`, chosen by the caller.
    pub agent: u32,
    /// The cap.
    pub cap: Cap,
}

/// A prototype that holds a situation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    /// Position of the prototype in the order it was given to the index.
    pub prototype: u32,
    /// The prototype's agent.
    pub agent: u32,
    /// Angle from the situation to the prototype's centre.
    pub angle: f32,
    /// Depth of the situation in the prototype, in [0, 1].
    pub depth: f32,
}

/// Every agent's prototypes, laid out for exact batched membership.
#[derive(Debug, Clone)]
pub struct ScopeIndex {
    dim: usize,
    /// Prototype centres, one per row.
    centres: Array2<f32>,
    radii: Vec<f32>,
    agents: Vec<u32>,
    n_agents: usize,
    /// The hnsw engine's graphs, once built or loaded.
    pub(crate) graphs: Option<Arc<Graphs>>,
}

impl ScopeIndex {
    /// Builds an index of `dim`-dimensional prototypes; every centre must have
    /// that dimension.
    pub fn try_new(dim: usize, prototypes: Vec<Prototype>) -> Result<Self, IndexError> {
        let mut centres = Array2::zeros((prototypes.len(), dim));
        for (i, p) in prototypes.iter().enumerate() {
            check_unit(p.cap.centre(), dim, i)?;
            centres.row_mut(i).assign(&ndarray::aview1(p.cap.centre()));
        }
        let n_agents = prototypes.iter().map(|p| p.agent as usize + 1).max().unwrap_or(0);
        Ok(ScopeIndex {
            dim,
            centres,
            radii: prototypes.iter().map(|p| p.cap.radius()).collect(),
            agents: prototypes.iter().map(|p| p.agent).collect(),
            n_agents,
            graphs: None,
        })
    }

    /// The dimension of the vectors the index holds.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of prototypes.
    pub fn len(&self) -> usize {
        self.radii.len()
    }

    /// Whether the index holds no prototype.
    pub fn is_empty(&self) -> bool {
        self.radii.is_empty()
    }

    /// One more than the largest agent number held.
    pub fn n_agents(&self) -> usize {
        self.n_agents
    }

    /// Agent of prototype `i`.
    pub fn agent_of(&self, prototype: usize) -> u32 {
        self.agents[prototype]
    }

    /// Radius of prototype `i`.
    pub fn radius_of(&self, prototype: usize) -> f32 {
        self.radii[prototype]
    }

    /// Every radius, in prototype order.
    pub fn radii(&self) -> &[f32] {
        &self.radii
    }

    /// Agent of every prototype, in prototype order.
    pub fn agents(&self) -> &[u32] {
        &self.agents
    }

    /// Every centre, row-major, `dim` values per prototype.
    pub fn centres(&self) -> &[f32] {
        // Invariant: the matrix is built by `Array2::zeros` and filled in
        // place, so it is contiguous in standard layout.
        self.centres.as_slice().expect("centres are in standard layout")
    }

    /// Centre of prototype `i`.
    pub fn centre_of(&self, prototype: usize) -> &[f32] {
        &self.centres()[prototype * self.dim..(prototype + 1) * self.dim]
    }

    /// Checks a flat row-major batch of situations and views it as a matrix.
    pub(crate) fn view<'a>(&self, flat: &'a [f32]) -> Result<ArrayView2<'a, f32>, IndexError> {
        if self.dim == 0 || !flat.len().is_multiple_of(self.dim) {
            return Err(IndexError::Dimension { expected: self.dim, actual: flat.len() });
        }
        for (i, row) in flat.chunks(self.dim).enumerate() {
            check_unit(row, self.dim, i)?;
        }
        // Invariant: the length is a multiple of dim, checked above.
        Ok(ArrayView2::from_shape((flat.len() / self.dim, self.dim), flat)
            .expect("length is a multiple of dim"))
    }

    /// For each situation of a flat row-major batch, every prototype that
    /// holds it, in prototype order.
    pub fn membership(&self, situations: &[f32]) -> Result<Vec<Vec<Hit>>, IndexError> {
        let batch = self.view(situations)?;
        Ok(self.map_rows(batch, |_, cosines| self.hits(cosines)))
    }

    /// The prototypes holding one situation, given its cosines to every
    /// centre.
    // TODO(exact-single): one situation costs an acos per centre here; a
    // test of the cosine against a stored cos(r) would skip most of them
    // (benches/README.md, "Known gaps").
    fn hits(&self, cosines: &[f32]) -> Vec<Hit> {
        cosines
            .iter()
            .enumerate()
            .filter_map(|(i, &cos)| {
                let theta = angle_from_cos(cos);
                (theta <= self.radii[i]).then(|| Hit {
                    prototype: i as u32,
                    agent: self.agents[i],
                    angle: theta,
                    depth: depth(theta, self.radii[i]),
                })
            })
            .collect()
    }

    /// Calls `each(row, cosines)` for every situation, where `cosines` holds
    /// its dot product with every prototype centre. Blocks of situations are
    /// multiplied against all centres at once and run in parallel.
    pub(crate) fn map_rows<T, F>(&self, batch: ArrayView2<f32>, each: F) -> Vec<T>
    where
        T: Send,
        F: Fn(usize, &[f32]) -> T + Sync,
    {
        let rows = (BLOCK_CELLS / self.len().max(1)).clamp(1, 256);
        let starts: Vec<usize> = (0..batch.nrows()).step_by(rows).collect();
        let blocks: Vec<Vec<T>> = starts
            .into_par_iter()
            .map(|start| {
                let end = (start + rows).min(batch.nrows());
                let scores = batch.slice(s![start..end, ..]).dot(&self.centres.t());
                scores
                    .axis_iter(Axis(0))
                    .enumerate()
                    .map(|(j, row)| {
                        // Invariant: rows of a freshly computed product are
                        // contiguous in standard layout.
                        let cosines = row.to_slice().expect("standard layout");
                        each(start + j, cosines)
                    })
                    .collect()
            })
            .collect();
        blocks.into_iter().flatten().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_xoshiro::Xoshiro256PlusPlus;

    fn random_unit(rng: &mut impl Rng, dim: usize) -> Vec<f32> {
        let mut v: Vec<f32> = (0..dim).map(|_| rng.gen_range(-1.0..1.0)).collect();
        crate::geometry::normalize(&mut v).unwrap();
        v
    }

    #[test]
    fn matches_brute_force_on_seeded_data() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
        let dim = 16;
        let prototypes: Vec<Prototype> = (0..300)
            .map(|i| Prototype {
                agent: i % 40,
                cap: Cap::try_new(random_unit(&mut rng, dim), rng.gen_range(0.3..1.4)).unwrap(),
            })
            .collect();
        let index = ScopeIndex::try_new(dim, prototypes.clone()).unwrap();
        let flat: Vec<f32> = (0..700).flat_map(|_| random_unit(&mut rng, dim)).collect();
        let hits = index.membership(&flat).unwrap();
        let mut total = 0;
        for (q, row) in flat.chunks(dim).zip(&hits) {
            let naive: Vec<u32> = (0..prototypes.len() as u32)
                .filter(|&i| prototypes[i as usize].cap.contains(q))
                .collect();
            let got: Vec<u32> = row.iter().map(|h| h.prototype).collect();
            assert_eq!(got, naive);
            total += got.len();
        }
        assert!(total > 1000, "the data must exercise membership, got {total} hits");
    }

    #[test]
    fn refuses_wrong_dimension_and_nan() {
        let cap = Cap::try_new(vec![1.0, 0.0, 0.0], 1.0).unwrap();
        let index = ScopeIndex::try_new(3, vec![Prototype { agent: 0, cap }]).unwrap();
        assert!(matches!(index.membership(&[1.0, 0.0]), Err(IndexError::Dimension { .. })));
        assert_eq!(
            index.membership(&[1.0, 0.0, 0.0, f32::NAN, 0.0, 0.0]),
            Err(IndexError::NonFinite { index: 1 })
        );
        let wide = Cap::try_new(vec![1.0, 0.0], 1.0).unwrap();
        assert!(ScopeIndex::try_new(3, vec![Prototype { agent: 0, cap: wide }]).is_err());
    }

    #[test]
    fn empty_index_holds_nothing() {
        let index = ScopeIndex::try_new(2, vec![]).unwrap();
        assert_eq!(index.membership(&[1.0, 0.0]).unwrap(), vec![vec![]]);
    }
}
