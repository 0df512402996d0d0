//! Which agents' scopes overlap, how deeply, and (given a corpus) how many
//! situations both hold.

use crate::scopes::Bureau;
use crate::store::StoreError;
use crate::Error;
use bureau_index::{overlap_groups, EngineChoice};
use serde::Serialize;

/// Two agents whose scopes intersect.
#[derive(Debug, Clone, Serialize)]
pub struct OverlapEdge {
    /// One agent's name (the earlier in the store).
    pub a: String,
    /// The other agent's name.
    pub b: String,
    /// Deepest intersection of their caps, `r1 + r2 - angle(c1, c2)`, in
    /// radians.
    pub depth: f32,
    /// Number of intersecting prototype pairs.
    pub pairs: usize,
    /// With a corpus: situations both scopes hold.
    pub both: Option<usize>,
    /// With a corpus: `both` over the situations either scope holds.
    pub jaccard: Option<f64>,
}

/// The overlap graph of a bureau.
#[derive(Debug, Clone, Serialize)]
pub struct OverlapReport {
    /// Overlapping pairs, deepest first.
    pub edges: Vec<OverlapEdge>,
    /// Connected groups of overlapping agents, largest first.
    pub groups: Vec<Vec<String>>,
    /// Agents with a fitted scope that overlap nobody.
    pub alone: Vec<String>,
    /// Number of corpus situations, when a corpus was given.
    pub corpus: Option<usize>,
}

/// The overlap graph of every agent, or of `agent`'s pairs only; with
/// `corpus` (unit embeddings), the Jaccard share of each pair.
pub fn overlaps(
    bureau: &Bureau,
    agent: Option<&str>,
    corpus: Option<&[Vec<f32>]>,
) -> Result<OverlapReport, Error> {
    let chosen = match agent {
        Some(name) => Some(number(bureau, name)?),
        None => None,
    };
    let found = bureau.index.overlaps(chosen);
    let holders = match corpus {
        Some(vectors) => Some(holders(bureau, vectors)?),
        None => None,
    };
    let name = |a: u32| bureau.scopes[a as usize].agent.name.clone();
    let mut edges: Vec<OverlapEdge> = found
        .iter()
        .map(|o| {
            let (both, jaccard) = match &holders {
                Some(h) => jaccard(h, o.a, o.b),
                None => (None, None),
            };
            OverlapEdge {
                a: name(o.a),
                b: name(o.b),
                depth: o.depth,
                pairs: o.pairs,
                both,
                jaccard,
            }
        })
        .collect();
    edges.sort_by(|x, y| y.depth.total_cmp(&x.depth).then(x.a.cmp(&y.a)).then(x.b.cmp(&y.b)));
    let fitted: Vec<u32> = match chosen {
        Some(a) => vec![a],
        None => (0..bureau.scopes.len() as u32)
            .filter(|&a| !bureau.scopes[a as usize].prototypes.is_empty())
            .collect(),
    };
    let (groups, alone) = overlap_groups(&fitted, &found);
    Ok(OverlapReport {
        edges,
        groups: groups.into_iter().map(|g| g.into_iter().map(name).collect()).collect(),
        alone: alone.into_iter().map(name).collect(),
        corpus: corpus.map(<[Vec<f32>]>::len),
    })
}

/// The index number of the agent called `name`.
fn number(bureau: &Bureau, name: &str) -> Result<u32, Error> {
    let found = bureau.scopes.iter().position(|s| s.agent.name == name);
    found.map(|i| i as u32).ok_or_else(|| StoreError::UnknownAgent { name: name.to_owned() }.into())
}

/// For each corpus situation, the sorted agents whose scopes hold it.
fn holders(bureau: &Bureau, vectors: &[Vec<f32>]) -> Result<Vec<Vec<u32>>, Error> {
    if bureau.index.is_empty() {
        return Ok(vec![Vec::new(); vectors.len()]);
    }
    let flat: Vec<f32> = vectors.iter().flatten().copied().collect();
    let hits = bureau.index.membership_by(&flat, EngineChoice::Auto)?;
    Ok(hits
        .rows
        .into_iter()
        .map(|row| {
            let mut agents: Vec<u32> = row.iter().map(|h| h.agent).collect();
            agents.sort_unstable();
            agents.dedup();
            agents
        })
        .collect())
}

/// Situations held by both `a` and `b`, and that count over those held by
/// either (None when neither holds any).
fn jaccard(holders: &[Vec<u32>], a: u32, b: u32) -> (Option<usize>, Option<f64>) {
    let (mut both, mut either) = (0usize, 0usize);
    for h in holders {
        let (ha, hb) = (h.binary_search(&a).is_ok(), h.binary_search(&b).is_ok());
        both += usize::from(ha && hb);
        either += usize::from(ha || hb);
    }
    (Some(both), (either > 0).then(|| both as f64 / either as f64))
}
