//! Gaps: where in a corpus of situations fewer than m scopes reach, grouped
//! into regions an operator can staff with a new agent (DESIGN.md, "Gaps").
//!
//! 1. *Cover*: each situation's cover is the number of agents whose scope
//!    holds it, from the exact membership engine.
//! 2. *Regions*: situations with cover below `min_cover` are clustered by
//!    DBSCAN (linfa) on angles. For unit vectors the chord |x - y| equals
//!    2 sin(theta / 2), which grows with the angle theta, so DBSCAN with the
//!    Euclidean tolerance 2 sin(eps / 2) is exactly DBSCAN with angular
//!    tolerance eps. Situations in no dense group are left as noise: a lone
//!    odd request is not a gap worth an agent.
//! 3. *The eps rule*: unless given, eps is the `eps_quantile` (median) of
//!    the angles from each corpus situation to its `min_points`-th nearest
//!    neighbour in the corpus (the k-distance rule of Ester et al., 1996).
//!    The whole corpus sets the scale, so a gap is a group of under-covered
//!    situations as dense as the corpus typically is; taking the scale from
//!    the under-covered situations alone makes eps shrink when the gap
//!    itself dominates them, and grow when scattered odd requests do.
//! 4. *Regions described*: centre (normalised mean of members), radius (the
//!    `radius_quantile` of member angles to the centre), the exemplars
//!    nearest the centre, and every agent's stretch: the angle its nearest
//!    prototype would have to grow to reach the centre,
//!    max(0, angle(centre, c) - r).

use crate::fit::prototypes::MIN_SPREAD;
use crate::scopes::Bureau;
use crate::store::{
    replace_fit, upsert_agent, FitRecord, ScopeRow, Store, StoreError, StoredPrototype,
};
use crate::Error;
use bureau_index::geometry::{angle, normalize};
use linfa::traits::Transformer;
use linfa_clustering::Dbscan;
use ndarray::Array2;
use rusqlite::OptionalExtension;
use serde::Serialize;
use std::collections::BTreeMap;

/// How gaps are found and described.
#[derive(Debug, Clone, Serialize)]
pub struct GapOptions {
    /// Situations held by fewer scopes than this are under-covered.
    pub min_cover: usize,
    /// DBSCAN's core size: a region needs this many under-covered
    /// situations within eps of one of them.
    pub min_points: usize,
    /// DBSCAN's angular tolerance in radians; `None` applies the eps rule.
    pub eps: Option<f32>,
    /// Quantile of the corpus's k-distances giving eps under the rule.
    pub eps_quantile: f64,
    /// Quantile of member angles giving a region's radius.
    pub radius_quantile: f64,
    /// Exemplars reported per region.
    pub exemplars: usize,
    /// Nearest agents reported per region.
    pub nearest_agents: usize,
}

impl Default for GapOptions {
    fn default() -> Self {
        GapOptions {
            min_cover: 1,
            min_points: 5,
            eps: None,
            eps_quantile: 0.5,
            radius_quantile: 0.9,
            exemplars: 5,
            nearest_agents: 3,
        }
    }
}

/// How far an agent's scope would have to grow to reach a region's centre.
#[derive(Debug, Clone, Serialize)]
pub struct Stretch {
    /// Agent name.
    pub agent: String,
    /// max(0, angle(centre, c) - r) over the agent's nearest prototype, in
    /// radians; 0 when the scope already holds the centre.
    pub stretch: f32,
}

/// A region of under-covered situations.
#[derive(Debug, Clone, Serialize)]
pub struct Region {
    /// 1-based rank by size.
    pub id: usize,
    /// Number of member situations.
    pub size: usize,
    /// Unit centre: the normalised mean of the members.
    pub centre: Vec<f32>,
    /// Angle from the centre holding `radius_quantile` of the members.
    pub radius: f32,
    /// Positions (in the corpus) of the members, nearest the centre first.
    pub members: Vec<usize>,
    /// The agents nearest the centre, least stretch first.
    pub nearest_agents: Vec<Stretch>,
}

/// What `gaps` found in a corpus.
#[derive(Debug, Clone, Serialize)]
pub struct GapReport {
    /// Situations in the corpus.
    pub situations: usize,
    /// Situations by cover count: cover -> how many.
    pub cover: BTreeMap<usize, usize>,
    /// Situations with cover below `min_cover`.
    pub under_covered: usize,
    /// Under-covered situations in no region.
    pub noise: usize,
    /// The angular tolerance DBSCAN ran with.
    pub eps: f32,
    /// The options used.
    pub options: GapOptions,
    /// Regions, largest first.
    pub regions: Vec<Region>,
}

/// Whether a scope is a gap draft (fit method `draft`): a proposal, not an
/// agent, so it neither covers situations nor counts as an old agent.
pub fn is_draft(scope: &ScopeRow) -> bool {
    scope.fit.as_ref().is_some_and(|f| f.method == DRAFT)
}

/// The fit method of a draft scope.
pub const DRAFT: &str = "draft";

/// Each situation's cover: the number of agents whose scope holds it; gap
/// drafts do not count.
pub fn cover(bureau: &Bureau, situations: &[Vec<f32>]) -> Result<Vec<usize>, Error> {
    if bureau.index.is_empty() {
        return Ok(vec![0; situations.len()]);
    }
    let flat: Vec<f32> = situations.iter().flatten().copied().collect();
    let hits = bureau.index.membership(&flat)?;
    let draft: Vec<bool> = bureau.scopes.iter().map(is_draft).collect();
    Ok(hits
        .iter()
        .map(|row| {
            let real = row.iter().filter(|h| !draft[h.agent as usize]);
            let mut agents: Vec<u32> = real.map(|h| h.agent).collect();
            agents.sort_unstable();
            agents.dedup();
            agents.len()
        })
        .collect())
}

/// Finds the gaps of `bureau` in a corpus of embedded situations.
pub fn find_gaps(
    bureau: &Bureau,
    situations: &[Vec<f32>],
    options: &GapOptions,
) -> Result<GapReport, Error> {
    let covers = cover(bureau, situations)?;
    let mut histogram = BTreeMap::new();
    for &c in &covers {
        *histogram.entry(c).or_insert(0) += 1;
    }
    let under: Vec<usize> =
        (0..situations.len()).filter(|&i| covers[i] < options.min_cover).collect();
    let points: Vec<&[f32]> = under.iter().map(|&i| situations[i].as_slice()).collect();
    let min_points = options.min_points.max(2);
    let all: Vec<&[f32]> = situations.iter().map(Vec::as_slice).collect();
    let eps = options.eps.unwrap_or_else(|| eps_rule(&all, min_points, options.eps_quantile));
    let labels = dbscan(&points, min_points, eps);
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (j, label) in labels.iter().enumerate() {
        if let Some(cluster) = label {
            groups.entry(*cluster).or_default().push(under[j]);
        }
    }
    let clustered: usize = groups.values().map(Vec::len).sum();
    let mut regions: Vec<Region> =
        groups.into_values().map(|m| describe(bureau, situations, m, options)).collect();
    regions.sort_by(|a, b| b.size.cmp(&a.size).then(a.members[0].cmp(&b.members[0])));
    regions.iter_mut().enumerate().for_each(|(i, r)| r.id = i + 1);
    tracing::debug!(eps, min_points, regions = regions.len(), "clustered under-covered situations");
    Ok(GapReport {
        situations: situations.len(),
        cover: histogram,
        under_covered: under.len(),
        noise: under.len() - clustered,
        eps,
        options: options.clone(),
        regions,
    })
}

/// Pairwise cosines of a set of unit vectors, as one matrix product.
fn cosines(points: &[&[f32]]) -> Array2<f32> {
    let dim = points.first().map_or(0, |p| p.len());
    let flat: Vec<f32> = points.iter().flat_map(|p| p.iter().copied()).collect();
    // Invariant: every situation has the store's dimension.
    let m = Array2::from_shape_vec((points.len(), dim), flat).expect("rows of equal length");
    m.dot(&m.t())
}

/// Most situations the eps rule looks at: the k-distance quantile is stable
/// long before that, and the cosine matrix stays near 16 MiB.
const EPS_SAMPLE: usize = 2000;

/// The eps rule: the `quantile` of each point's angle to its `k`-th nearest
/// neighbour, over an even sample of at most [`EPS_SAMPLE`] points. Falls
/// back to pi / 4 with fewer than k + 1 points, where no region can form.
pub fn eps_rule(points: &[&[f32]], k: usize, quantile: f64) -> f32 {
    let step = points.len().div_ceil(EPS_SAMPLE).max(1);
    let sample: Vec<&[f32]> = points.iter().step_by(step).copied().collect();
    if sample.len() <= k {
        return std::f32::consts::FRAC_PI_4;
    }
    let cos = cosines(&sample);
    let mut kth: Vec<f32> = cos
        .rows()
        .into_iter()
        .map(|row| {
            let mut c: Vec<f32> = row.to_vec();
            // The largest cosine is the point itself; the k-th after it is
            // the k-th nearest neighbour.
            c.sort_by(|a, b| b.total_cmp(a));
            bureau_index::geometry::angle_from_cos(c[k])
        })
        .collect();
    kth.sort_by(f32::total_cmp);
    let rank = ((kth.len() as f64 * quantile).ceil() as usize).clamp(1, kth.len());
    kth[rank - 1]
}

/// DBSCAN labels of unit vectors under angular tolerance `eps`.
fn dbscan(points: &[&[f32]], min_points: usize, eps: f32) -> Vec<Option<usize>> {
    if points.len() < min_points || eps.is_nan() || eps <= 0.0 {
        return vec![None; points.len()];
    }
    let dim = points[0].len();
    let flat: Vec<f64> = points.iter().flat_map(|p| p.iter().map(|&a| f64::from(a))).collect();
    // Invariant: every situation has the store's dimension.
    let data = Array2::from_shape_vec((points.len(), dim), flat).expect("rows of equal length");
    let chord = 2.0 * (f64::from(eps) / 2.0).sin();
    match Dbscan::params(min_points).tolerance(chord).transform(&data) {
        Ok(labels) => labels.to_vec(),
        Err(error) => {
            tracing::warn!(%error, "dbscan refused its parameters; reporting no regions");
            vec![None; points.len()]
        }
    }
}

/// Describes one region from its members' corpus positions.
fn describe(
    bureau: &Bureau,
    situations: &[Vec<f32>],
    members: Vec<usize>,
    o: &GapOptions,
) -> Region {
    let centre = mean_direction(members.iter().map(|&i| situations[i].as_slice()));
    let mut by_angle: Vec<(f32, usize)> =
        members.iter().map(|&i| (angle(&situations[i], &centre), i)).collect();
    by_angle.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let rank =
        ((by_angle.len() as f64 * o.radius_quantile).ceil() as usize).clamp(1, by_angle.len());
    let radius = by_angle[rank - 1].0.max(MIN_SPREAD);
    let mut nearest_agents = stretches(bureau, &centre);
    nearest_agents.truncate(o.nearest_agents);
    Region {
        id: 0,
        size: members.len(),
        radius,
        members: by_angle.into_iter().map(|(_, i)| i).collect(),
        nearest_agents,
        centre,
    }
}

/// The normalised mean of unit vectors; the first vector when they cancel.
fn mean_direction<'a>(mut vectors: impl Iterator<Item = &'a [f32]>) -> Vec<f32> {
    // Invariant: DBSCAN regions hold at least min_points >= 2 members.
    let first = vectors.next().expect("a region has members");
    let mut mean = first.to_vec();
    for v in vectors {
        mean.iter_mut().zip(v).for_each(|(m, a)| *m += a);
    }
    match normalize(&mut mean) {
        Ok(()) => mean,
        Err(_) => first.to_vec(),
    }
}

/// Every fitted agent's (drafts aside) stretch to reach `centre`, least first.
pub fn stretches(bureau: &Bureau, centre: &[f32]) -> Vec<Stretch> {
    let mut all: Vec<Stretch> = bureau
        .scopes
        .iter()
        .filter(|s| !s.prototypes.is_empty() && !is_draft(s))
        .map(|s| Stretch {
            agent: s.agent.name.clone(),
            stretch: s
                .prototypes
                .iter()
                .map(|p| (angle(centre, &p.centre) - p.radius).max(0.0))
                .fold(f32::INFINITY, f32::min),
        })
        .collect();
    all.sort_by(|a, b| a.stretch.total_cmp(&b.stretch).then_with(|| a.agent.cmp(&b.agent)));
    all
}

/// Name of the draft agent saved for region `id`.
pub fn draft_name(id: usize) -> String {
    format!("draft-gap-{id}")
}

/// Saves each region as a draft agent (`draft-gap-<id>`) whose scope is the
/// region's cap: a fit record of method `draft` with one prototype. A draft
/// of the same name from an earlier run is replaced. One transaction.
pub fn save_drafts(
    store: &mut Store,
    regions: &[Region],
    exemplar: impl Fn(&Region) -> String,
) -> Result<Vec<String>, Error> {
    let model_id = store.model_id()?.unwrap_or_default();
    let path = store.path().to_owned();
    let sql = |source| StoreError::Sqlite { path: path.clone(), source };
    Ok(store.write(|tx| {
        let mut names = Vec::new();
        for r in regions {
            let name = draft_name(r.id);
            if holds_other_than_draft(tx, &name).map_err(sql)? {
                return Err(StoreError::NameTaken { name });
            }
            let mission = format!(
                "draft for gap region {} ({} situations), e.g. {}",
                r.id,
                r.size,
                exemplar(r)
            );
            let agent = upsert_agent(tx, &name, &mission).map_err(sql)?;
            let prototype =
                StoredPrototype { centre: r.centre.clone(), spread: r.radius, radius: r.radius };
            replace_fit(tx, agent, &draft_record(r, &model_id), &[prototype]).map_err(sql)?;
            names.push(name);
        }
        Ok(names)
    })?)
}

/// Whether an agent of this name exists whose active scope is not a draft
/// (a real agent, fitted or not): saving a draft must never replace it.
fn holds_other_than_draft(tx: &rusqlite::Transaction, name: &str) -> rusqlite::Result<bool> {
    let method: Option<Option<String>> = tx
        .query_row(
            "SELECT json_extract(f.record, '$.method') FROM agents a
             LEFT JOIN fits f ON f.agent_id = a.id AND f.active = 1 WHERE a.name = ?1",
            [name],
            |r| r.get(0),
        )
        .optional()?;
    Ok(method.is_some_and(|m| m.as_deref() != Some(DRAFT)))
}

fn draft_record(r: &Region, model_id: &str) -> FitRecord {
    FitRecord { n_fit: r.size, k: 1, lambda: Some(1.0), ..FitRecord::new(DRAFT, model_id, 0) }
}
