//! The hnsw membership engine: approximate candidates from hnsw_rs graphs
//! over prototype centres, then the exact angle test on every candidate.
//!
//! Radii differ per prototype, so a plain k-nearest search misses members.
//! Two layouts turn "every cap holding x" into threshold searches:
//!
//! - [`Layout::Lifted`]: each centre `c` with chordal radius
//!   `rho = 2 sin(r / 2)` becomes `c' = [2c, rho^2 - 1]`, the situation
//!   becomes `q' = [q, 1]`, and `q` lies inside exactly when `q'.c' >= 1`.
//!   One more coordinate, `sqrt(m^2 - |c'|^2)` for the largest lifted norm
//!   `m` (0 for the situation), gives every lifted centre the same norm, so
//!   the inner-product threshold becomes a cosine threshold and one ordinary
//!   angular graph serves every radius.
//! - [`Layout::Bands`]: prototypes sorted by radius and cut into bands of
//!   equal size, one graph each, searched out to the band's largest radius.
//!
//! Either way the search widens `k` until the k-th neighbour lies beyond the
//! threshold, then every candidate is checked with `angle(x, c) <= r`, so the
//! engine never reports a false member; it can only miss one the graph did
//! not reach, which the recall benchmark measures. The few caps wider than
//! [`HnswParams::scan_above`] are in no graph: every query scans them.
//!
//! Four radius bands are the default. On the clustered, heavy-tailed
//! benchmark (`bureau bench membership --prototypes N --queries 200 --seed
//! 7 --ef-search 64,128,256`, benches/README.md) both layouts, with caps
//! wider than 1 rad scanned, reach recall 0.99, but not alike as N grows.
//! At 10^5 the lifted graph is the faster (recall 0.994 at 75x the exact
//! engine on single situations, against the bands' 1.000 at 13x); at 10^6
//! it needs a search width of 256 for 0.993 (46x), while four bands find
//! 0.997 at the default width of 64 (40x) and 1.000 at 128 (33x), with
//! 4.5 kB per prototype against the lifted graph's 6.7 kB. Lifting mixes
//! each centre's radius into its coordinates, so graph neighbours are no
//! longer quite the situation's neighbours and a fixed width finds fewer
//! of them as the graph grows; bands keep plain angular graphs and hold
//! their recall at a fixed width, which is what a default needs.

use crate::geometry::{angle_from_cos, dot};
use hnsw_rs::prelude::{DistDot, Hnsw};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::f32::consts::PI;

/// Slack added to every graph threshold so that f32 rounding in the lifted
/// or normalised vectors cannot push a true member out of the candidates;
/// the exact test afterwards removes anything extra.
const THRESHOLD_SLACK: f32 = 1e-4;

/// Most layers of an hnsw_rs graph (its own limit).
const MAX_LAYERS: usize = 16;

/// How prototypes are laid out in graphs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Layout {
    /// One graph over norm-completed lifted centres.
    Lifted,
    /// One graph per radius band, `count` bands of equal size.
    Bands {
        /// Number of bands (at least 1).
        count: usize,
    },
}

/// Parameters of the hnsw engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HnswParams {
    /// How prototypes are laid out in graphs.
    pub layout: Layout,
    /// Neighbours kept per node and layer (hnsw_rs `max_nb_connection`).
    pub max_connections: usize,
    /// Candidate list width while building.
    pub ef_construction: usize,
    /// Candidate list width while searching (raised to k when k is larger).
    pub ef_search: usize,
    /// Prototypes with a radius above this (radians) are checked by a
    /// linear scan instead of a graph (see [`DEFAULT_SCAN_ABOVE`]).
    pub scan_above: f32,
    /// First k of the widening search.
    pub k_start: usize,
}

/// Radius above which a prototype is scanned rather than put in a graph.
///
/// A graph search for the caps holding `x` must reach every centre within
/// the widest radius of the graph, widened by the near-miss margin (1.25).
/// In 384 dimensions unrelated directions lie near pi / 2 apart, so a cap
/// wider than about 1.0 rad reaches into the shell where nearly every
/// centre of the index lies, and a nearest-neighbour graph cannot enumerate
/// that shell reliably: with every prototype in graphs the clustered
/// benchmark at 10^6 prototypes found 0.91 of the members (0.95 with a
/// search width of 512). Few caps are that wide (3% of the benchmark's),
/// and a scan of them is what a graph search that far would cost anyway.
pub const DEFAULT_SCAN_ABOVE: f32 = 1.0;

impl Default for HnswParams {
    fn default() -> Self {
        HnswParams {
            layout: Layout::Bands { count: 4 },
            max_connections: 16,
            ef_construction: 100,
            ef_search: 64,
            scan_above: DEFAULT_SCAN_ABOVE,
            k_start: 32,
        }
    }
}

/// One hnsw_rs graph over some prototypes.
pub(crate) struct Graph {
    /// The graph; point `j` is prototype `members[j]`.
    pub(crate) hnsw: Hnsw<'static, f32, DistDot>,
    /// Prototype number of each point, in insertion order.
    pub(crate) members: Vec<u32>,
    /// Largest radius among the members.
    pub(crate) max_radius: f32,
}

/// Every graph of one index, with what the searches need to set thresholds.
pub(crate) struct Graphs {
    pub(crate) params: HnswParams,
    pub(crate) graphs: Vec<Graph>,
    /// Prototypes wider than `params.scan_above`, checked by a scan.
    pub(crate) scanned: Vec<u32>,
    /// Norm `m` shared by every lifted centre before scaling to unit length
    /// (lifted layout only; 0 otherwise).
    pub(crate) lift_norm: f32,
}

impl std::fmt::Debug for Graphs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sizes: Vec<usize> = self.graphs.iter().map(|g| g.members.len()).collect();
        f.debug_struct("Graphs")
            .field("params", &self.params)
            .field("sizes", &sizes)
            .field("scanned", &self.scanned.len())
            .finish()
    }
}

/// Chordal radius of an angular radius: the straight-line distance from the
/// centre to the cap's rim.
pub(crate) fn chordal(radius: f32) -> f32 {
    2.0 * (radius.min(PI) / 2.0).sin()
}

/// A copy of `v` scaled to unit length; `v` is a checked unit vector within
/// the crate's tolerance, so the norm is far from 0.
fn unit(v: &[f32]) -> Vec<f32> {
    let norm = dot(v, v).sqrt();
    v.iter().map(|a| a / norm).collect()
}

/// The norm shared by all lifted centres: the largest `|[2c, rho^2 - 1]|`.
pub(crate) fn lift_norm(radii: &[f32]) -> f32 {
    let widest = radii.iter().map(|&r| (chordal(r).powi(2) - 1.0).powi(2)).fold(0.0, f32::max);
    (4.0 + widest).sqrt()
}

/// The lifted, norm-completed centre, scaled to unit length.
fn lift_centre(centre: &[f32], radius: f32, m: f32) -> Vec<f32> {
    let tail = chordal(radius).powi(2) - 1.0;
    let pad = (m * m - 4.0 - tail * tail).max(0.0).sqrt();
    let mut v: Vec<f32> = unit(centre).iter().map(|a| 2.0 * a / m).collect();
    v.extend([tail / m, pad / m]);
    v
}

/// The lifted situation `[q, 1, 0]`, scaled to unit length.
fn lift_situation(q: &[f32]) -> Vec<f32> {
    let s = std::f32::consts::FRAC_1_SQRT_2;
    let mut v: Vec<f32> = unit(q).iter().map(|a| a * s).collect();
    v.extend([s, 0.0]);
    v
}

/// Prototype numbers of each radius band: sorted by radius (ties by number)
/// and cut into `count` runs of near-equal size.
pub(crate) fn band_members(radii: &[f32], count: usize) -> Vec<Vec<u32>> {
    let mut order: Vec<u32> = (0..radii.len() as u32).collect();
    order.sort_by(|&a, &b| radii[a as usize].total_cmp(&radii[b as usize]).then(a.cmp(&b)));
    let count = count.clamp(1, radii.len().max(1));
    let size = radii.len().div_ceil(count).max(1);
    order.chunks(size).map(<[u32]>::to_vec).collect()
}

/// Prototype numbers of each graph of `params.layout`: every prototype not
/// wider than `params.scan_above`; no graph is empty.
pub(crate) fn group_members(params: &HnswParams, radii: &[f32]) -> Vec<Vec<u32>> {
    let narrow: Vec<u32> =
        (0..radii.len() as u32).filter(|&i| radii[i as usize] <= params.scan_above).collect();
    let groups = match params.layout {
        Layout::Lifted => vec![narrow],
        Layout::Bands { count } => {
            let of: Vec<f32> = narrow.iter().map(|&i| radii[i as usize]).collect();
            let bands = band_members(&of, count);
            bands.into_iter().map(|b| b.iter().map(|&j| narrow[j as usize]).collect()).collect()
        }
    };
    groups.into_iter().filter(|g: &Vec<u32>| !g.is_empty()).collect()
}

/// Prototype numbers wider than `params.scan_above`, in order.
// TODO(hnsw-wide): scopes fitted on real text are often wider than 1 rad
// (89 of the demo's 192 prototypes), and scanning them caps the speed-up;
// they need an index of their own (benches/README.md, "Known gaps").
pub(crate) fn scanned_members(params: &HnswParams, radii: &[f32]) -> Vec<u32> {
    (0..radii.len() as u32).filter(|&i| radii[i as usize] > params.scan_above).collect()
}

impl Graphs {
    /// Builds the graphs of `params.layout` over `centres` (row-major, `dim`
    /// wide, unit rows) with the given radii. Inserts in parallel.
    pub(crate) fn build(params: &HnswParams, centres: &[f32], dim: usize, radii: &[f32]) -> Self {
        let row = |i: u32| &centres[i as usize * dim..(i as usize + 1) * dim];
        let lift = match params.layout {
            Layout::Lifted => lift_norm(radii),
            Layout::Bands { .. } => 0.0,
        };
        let graphs = group_members(params, radii)
            .into_iter()
            .map(|members: Vec<u32>| {
                let vectors: Vec<Vec<f32>> = members
                    .par_iter()
                    .map(|&i| match params.layout {
                        Layout::Lifted => lift_centre(row(i), radii[i as usize], lift),
                        Layout::Bands { .. } => unit(row(i)),
                    })
                    .collect();
                let mut hnsw = new_hnsw(params, members.len());
                let items: Vec<(&[f32], usize)> =
                    vectors.iter().enumerate().map(|(j, v)| (v.as_slice(), j)).collect();
                hnsw.parallel_insert_slice(&items);
                hnsw.set_searching_mode(true);
                let max_radius = members.iter().map(|&i| radii[i as usize]).fold(0.0, f32::max);
                Graph { hnsw, members, max_radius }
            })
            .collect();
        let scanned = scanned_members(params, radii);
        Graphs { params: params.clone(), graphs, scanned, lift_norm: lift }
    }

    /// Cosine-distance thresholds, one per graph, that admit every
    /// prototype within `widen * r` of a situation (`widen >= 1`; above 1 the
    /// search also finds near misses). Computed once per batch.
    pub(crate) fn limits(&self, radii: &[f32], widen: f32) -> Vec<f32> {
        let limit = |g: &Graph| match self.params.layout {
            Layout::Lifted => self.lifted_limit(radii, widen),
            Layout::Bands { .. } => 1.0 - (g.max_radius * widen).min(PI).cos(),
        };
        self.graphs.iter().map(|g| limit(g) + THRESHOLD_SLACK).collect()
    }

    /// The cosine-distance threshold of the lifted graph. For `widen = 1`
    /// it is the exact membership test; a wider search must admit every
    /// prototype within `widen * r`, whose lifted score can fall short of 1
    /// by at most `gap = max (rho_wide^2 - rho^2)`.
    fn lifted_limit(&self, radii: &[f32], widen: f32) -> f32 {
        let gap = if widen > 1.0 {
            let grow = |r: f32| chordal(r * widen).powi(2) - chordal(r).powi(2);
            radii.iter().map(|&r| grow(r)).fold(0.0, f32::max)
        } else {
            0.0
        };
        1.0 - (1.0 - gap) * std::f32::consts::FRAC_1_SQRT_2 / self.lift_norm
    }

    /// Every prototype within `widen * r` of `q` that the graphs reach, with
    /// its exact cosine, verified by the angle test; `limits` come from
    /// [`Graphs::limits`] with the same `widen`.
    pub(crate) fn candidates(
        &self,
        q: &[f32],
        centres: &[f32],
        radii: &[f32],
        limits: &[f32],
        widen: f32,
    ) -> Vec<(u32, f32)> {
        let dim = q.len();
        let query = match self.params.layout {
            Layout::Lifted => lift_situation(q),
            Layout::Bands { .. } => unit(q),
        };
        let graphs = self.graphs.iter().zip(limits);
        let searched = graphs.flat_map(|(graph, &limit)| self.search(graph, &query, limit));
        let holds = |&i: &u32| {
            let cos = dot(q, &centres[i as usize * dim..(i as usize + 1) * dim]);
            (angle_from_cos(cos) <= (radii[i as usize] * widen).min(PI)).then_some((i, cos))
        };
        searched.chain(self.scanned.iter().copied()).filter_map(|i| holds(&i)).collect()
    }

    /// Prototypes whose points lie within cosine distance `limit` of
    /// `query`, widening k until the k-th neighbour lies beyond it.
    fn search(&self, graph: &Graph, query: &[f32], limit: f32) -> Vec<u32> {
        let n = graph.members.len();
        let mut k = self.params.k_start.clamp(1, n.max(1));
        loop {
            let found = graph.hnsw.search(query, k, self.params.ef_search.max(k));
            let inside: Vec<u32> = found
                .iter()
                .filter(|nb| nb.distance <= limit)
                .map(|nb| graph.members[nb.d_id])
                .collect();
            if inside.len() < k || k >= n {
                return inside;
            }
            k = (k * 2).min(n);
        }
    }
}

/// An empty hnsw_rs graph sized for `n` points.
fn new_hnsw(params: &HnswParams, n: usize) -> Hnsw<'static, f32, DistDot> {
    // hnsw_rs dumps only graphs made with its full 16 layers; the layer a
    // point lands on is drawn from max_connections, so small graphs still
    // use few of them.
    Hnsw::new(
        params.max_connections.min(255),
        n.max(1),
        MAX_LAYERS,
        params.ef_construction,
        DistDot,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifted_score_is_the_cap_test() {
        let c = [1.0, 0.0, 0.0];
        let (r, m) = (0.6, lift_norm(&[0.6, 1.5]));
        let lc = lift_centre(&c, r, m);
        assert!((dot(&lc, &lc) - 1.0).abs() < 1e-5);
        let limit = 1.0 - std::f32::consts::FRAC_1_SQRT_2 / m;
        for theta in [0.0f32, 0.3, 0.59, 0.61, 1.0, 2.5] {
            let q = [theta.cos(), theta.sin(), 0.0];
            let distance = 1.0 - dot(&lift_situation(&q), &lc);
            assert_eq!(distance <= limit, theta <= r, "theta {theta}");
        }
    }

    #[test]
    fn bands_cover_every_prototype_once_in_radius_order() {
        let radii = [0.5, 0.1, 0.9, 0.3, 0.2];
        let bands = band_members(&radii, 2);
        assert_eq!(bands, vec![vec![1, 4, 3], vec![0, 2]]);
        assert_eq!(band_members(&radii, 9).len(), 5);
    }

    #[test]
    fn wide_prototypes_are_scanned_and_in_no_graph() {
        let radii = [0.5, 1.2, 0.9, 1.0, 2.0, 0.2];
        let params = HnswParams { layout: Layout::Bands { count: 2 }, ..HnswParams::default() };
        assert_eq!(group_members(&params, &radii), vec![vec![5, 0], vec![2, 3]]);
        assert_eq!(scanned_members(&params, &radii), vec![1, 4]);
        let lifted = HnswParams { layout: Layout::Lifted, scan_above: 0.1, ..params };
        assert!(group_members(&lifted, &radii).is_empty(), "no empty graph is made");
        assert_eq!(scanned_members(&lifted, &radii).len(), 6);
    }
}
