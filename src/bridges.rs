//! Bridges: situations that bind a new agent to old ones, for training it in
//! shared episodes (DESIGN.md, "Bridges").
//!
//! A candidate lies inside the new agent's scope and inside at least one old
//! agent's scope (exact membership). Candidates are chosen greedily, taking
//! turns over the overlapping old agents (most candidates first), so every
//! overlapping agent gets its share. On an old agent's turn the candidate it
//! binds with the largest score wins:
//!
//! score = novelty * diversity, novelty = 1 - (deepest old depth), in
//! [0, 1], large near the old boundaries, far from the old centres; and
//! diversity = (smallest angle to a chosen bridge) / pi, 1 for the first.
//!
//! When no corpus situation lies in both, bureau reports the angular gap
//! between the scopes (min over prototype pairs of angle(c1, c2) - r1 - r2;
//! at most 0 when the caps touch but the corpus holds nothing in common) and
//! stepping stones: corpus situations nearest the great-circle path (slerp)
//! from the nearest old prototype's centre to the new one's, one per equal
//! stretch of the path, so that a chain of episodes can carry alignment
//! across.

use crate::gaps::is_draft;
use crate::scopes::Bureau;
use crate::store::{ScopeRow, StoredPrototype};
use crate::Error;
use bureau_index::geometry::{angle, normalize};
use serde::Serialize;
use std::collections::BTreeMap;
use std::f32::consts::PI;

/// Why bridges cannot be chosen.
#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    /// The new agent has no fitted, non-empty scope.
    #[error("agent {agent:?} has an empty scope (fit it first)")]
    EmptyScope {
        /// The agent's name.
        agent: String,
    },
    /// No other agent (drafts aside) has a non-empty scope.
    #[error("no other agent has a scope to bridge to")]
    NoOldScopes,
}

/// An old agent a bridge binds, and how deep the bridge lies in its scope.
#[derive(Debug, Clone, Serialize)]
pub struct Binding {
    /// Old agent's name.
    pub agent: String,
    /// Depth of the bridge in its scope, in [0, 1].
    pub depth: f32,
}

/// One chosen bridging situation.
#[derive(Debug, Clone, Serialize)]
pub struct Bridge {
    /// Position in the corpus.
    pub situation: usize,
    /// Depth in the new agent's scope.
    pub depth: f32,
    /// Old agents whose scopes hold it, deepest first.
    pub binds: Vec<Binding>,
    /// 1 - the deepest old depth.
    pub novelty: f32,
}

/// A stepping stone on the path from an old scope to the new one.
#[derive(Debug, Clone, Serialize)]
pub struct Stone {
    /// Position in the corpus.
    pub situation: usize,
    /// Where along the path it lies: 0 at the old centre, 1 at the new.
    pub t: f32,
    /// Angle from the situation to the path.
    pub distance: f32,
}

/// What `bridges` found.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BridgeReport {
    /// Situations in both scopes exist: the chosen bridges.
    Bridges {
        /// The new agent.
        agent: String,
        /// Corpus situations inside the new scope and at least one old one.
        candidates: usize,
        /// Old agents with candidates, and how many each.
        overlapping: BTreeMap<String, usize>,
        /// Smallest angle between two chosen bridges (pi for fewer than 2).
        min_pairwise_angle: f32,
        /// The bridges, in the order chosen.
        bridges: Vec<Bridge>,
    },
    /// No situation lies in both: the gap and the stepping stones across.
    SteppingStones {
        /// The new agent.
        agent: String,
        /// Nearest old agent.
        nearest_agent: String,
        /// min over prototype pairs of angle(c1, c2) - r1 - r2, radians.
        gap: f32,
        /// Stones ordered along the path from the old agent to the new.
        stones: Vec<Stone>,
    },
}

/// Chooses at most `budget` bridges from the corpus `situations` for agent
/// `new` of `bureau`.
pub fn bridges(
    bureau: &Bureau,
    new: &str,
    situations: &[Vec<f32>],
    budget: usize,
) -> Result<BridgeReport, Error> {
    let position = bureau.scopes.iter().position(|s| s.agent.name == new);
    let Some(position) = position else {
        return Err(crate::store::StoreError::UnknownAgent { name: new.to_owned() }.into());
    };
    if bureau.scopes[position].prototypes.is_empty() {
        return Err(BridgeError::EmptyScope { agent: new.to_owned() }.into());
    }
    let old =
        |(i, s): (usize, &ScopeRow)| i != position && !s.prototypes.is_empty() && !is_draft(s);
    if !bureau.scopes.iter().enumerate().any(old) {
        return Err(BridgeError::NoOldScopes.into());
    }
    let candidates = candidates(bureau, position as u32, situations)?;
    if candidates.is_empty() {
        return Ok(stepping_stones(bureau, position, situations, budget));
    }
    let mut overlapping: BTreeMap<String, usize> = BTreeMap::new();
    for c in &candidates {
        for b in &c.binds {
            *overlapping.entry(b.agent.clone()).or_default() += 1;
        }
    }
    let chosen = choose(&candidates, &overlapping, situations, budget);
    Ok(BridgeReport::Bridges {
        agent: new.to_owned(),
        candidates: candidates.len(),
        min_pairwise_angle: min_pairwise(&chosen, situations),
        overlapping,
        bridges: chosen,
    })
}

/// Every situation inside agent `new`'s scope and at least one other's.
fn candidates(bureau: &Bureau, new: u32, situations: &[Vec<f32>]) -> Result<Vec<Bridge>, Error> {
    let flat: Vec<f32> = situations.iter().flatten().copied().collect();
    let hits = bureau.index.membership(&flat)?;
    let mut out = Vec::new();
    for (i, row) in hits.iter().enumerate() {
        let mut deepest: BTreeMap<u32, f32> = BTreeMap::new();
        for h in
            row.iter().filter(|h| h.agent == new || !is_draft(&bureau.scopes[h.agent as usize]))
        {
            let d = deepest.entry(h.agent).or_insert(h.depth);
            *d = d.max(h.depth);
        }
        let Some(depth) = deepest.remove(&new) else { continue };
        let mut binds: Vec<Binding> = deepest
            .into_iter()
            .map(|(a, depth)| Binding {
                agent: bureau.scopes[a as usize].agent.name.clone(),
                depth,
            })
            .collect();
        if binds.is_empty() {
            continue;
        }
        binds.sort_by(|a, b| b.depth.total_cmp(&a.depth));
        let novelty = 1.0 - binds[0].depth;
        out.push(Bridge { situation: i, depth, binds, novelty });
    }
    Ok(out)
}

/// The greedy choice: turns over old agents (most candidates first), each
/// taking its best-scoring unchosen candidate, until the budget is spent or
/// no agent has one left.
fn choose(
    candidates: &[Bridge],
    overlapping: &BTreeMap<String, usize>,
    situations: &[Vec<f32>],
    budget: usize,
) -> Vec<Bridge> {
    let mut order: Vec<(&String, &usize)> = overlapping.iter().collect();
    order.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let mut taken = vec![false; candidates.len()];
    let mut chosen: Vec<Bridge> = Vec::new();
    while chosen.len() < budget {
        let before = chosen.len();
        for (agent, _) in &order {
            if chosen.len() == budget {
                break;
            }
            let pick = best(candidates, &taken, agent, &chosen, situations);
            if let Some(j) = pick {
                taken[j] = true;
                chosen.push(candidates[j].clone());
            }
        }
        if chosen.len() == before {
            break;
        }
    }
    chosen
}

/// The unchosen candidate binding `agent` with the largest score.
fn best(
    candidates: &[Bridge],
    taken: &[bool],
    agent: &str,
    chosen: &[Bridge],
    situations: &[Vec<f32>],
) -> Option<usize> {
    let diversity = |x: &[f32]| {
        chosen.iter().map(|c| angle(x, &situations[c.situation])).fold(PI, f32::min) / PI
    };
    candidates
        .iter()
        .enumerate()
        .filter(|(j, c)| !taken[*j] && c.binds.iter().any(|b| b.agent == agent))
        .map(|(j, c)| (j, c.novelty * diversity(&situations[c.situation])))
        .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
        .map(|(j, _)| j)
}

/// Smallest angle between two chosen bridges; pi for fewer than two.
fn min_pairwise(chosen: &[Bridge], situations: &[Vec<f32>]) -> f32 {
    let mut min = PI;
    for (i, a) in chosen.iter().enumerate() {
        for b in &chosen[i + 1..] {
            min = min.min(angle(&situations[a.situation], &situations[b.situation]));
        }
    }
    min
}

/// The closest pair (new prototype, old agent's prototype) and its gap.
struct Closest<'a> {
    new: &'a StoredPrototype,
    old: &'a StoredPrototype,
    agent: usize,
    gap: f32,
}

fn closest(bureau: &Bureau, new: usize) -> Option<Closest<'_>> {
    let mut best: Option<Closest> = None;
    for p in &bureau.scopes[new].prototypes {
        let old = bureau.scopes.iter().enumerate().filter(|(a, s)| *a != new && !is_draft(s));
        for (agent, scope) in old {
            for q in &scope.prototypes {
                let gap = angle(&p.centre, &q.centre) - p.radius - q.radius;
                if best.as_ref().is_none_or(|b| gap < b.gap) {
                    best = Some(Closest { new: p, old: q, agent, gap });
                }
            }
        }
    }
    best
}

/// Points sampled along each path for the distance to it.
const PATH_SAMPLES: usize = 64;

fn stepping_stones(
    bureau: &Bureau,
    new: usize,
    situations: &[Vec<f32>],
    budget: usize,
) -> BridgeReport {
    // Invariant: the caller checked that both scopes have prototypes.
    let c = closest(bureau, new).expect("both scopes have prototypes");
    let path: Vec<Vec<f32>> = (0..=PATH_SAMPLES)
        .map(|s| slerp(&c.old.centre, &c.new.centre, s as f32 / PATH_SAMPLES as f32))
        .collect();
    let placed: Vec<Stone> =
        situations.iter().enumerate().map(|(i, x)| place(i, x, &path)).collect();
    BridgeReport::SteppingStones {
        agent: bureau.scopes[new].agent.name.clone(),
        nearest_agent: bureau.scopes[c.agent].agent.name.clone(),
        gap: c.gap,
        stones: pick_stones(placed, budget),
    }
}

/// Where situation `x` lies relative to a sampled path.
fn place(i: usize, x: &[f32], path: &[Vec<f32>]) -> Stone {
    let (s, distance) = path
        .iter()
        .map(|p| angle(x, p))
        .enumerate()
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap_or((0, PI));
    Stone { situation: i, t: s as f32 / (path.len() - 1).max(1) as f32, distance }
}

/// The stone nearest the path in each of `budget` equal stretches of it,
/// in path order.
fn pick_stones(placed: Vec<Stone>, budget: usize) -> Vec<Stone> {
    let mut best: Vec<Option<Stone>> = vec![None; budget];
    for stone in placed {
        let slot = ((stone.t * budget as f32) as usize).min(budget.saturating_sub(1));
        let Some(entry) = best.get_mut(slot) else { continue };
        if entry.as_ref().is_none_or(|b| stone.distance < b.distance) {
            *entry = Some(stone);
        }
    }
    best.into_iter().flatten().collect()
}

/// The point a share `t` of the way along the great circle from unit `a`
/// to unit `b`; the normalised chord point when they are (anti)parallel.
pub fn slerp(a: &[f32], b: &[f32], t: f32) -> Vec<f32> {
    let omega = angle(a, b);
    let (wa, wb) = if omega.sin() < 1e-4 {
        (1.0 - t, t)
    } else {
        (((1.0 - t) * omega).sin() / omega.sin(), (t * omega).sin() / omega.sin())
    };
    let mut p: Vec<f32> = a.iter().zip(b).map(|(x, y)| wa * x + wb * y).collect();
    if normalize(&mut p).is_err() {
        return a.to_vec();
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(theta: f32) -> Vec<f32> {
        vec![theta.cos(), theta.sin(), 0.0]
    }

    #[test]
    fn slerp_walks_the_great_circle_at_constant_speed() {
        let (a, b) = (at(0.0), at(1.2));
        for t in [0.0, 0.25, 0.5, 1.0] {
            let p = slerp(&a, &b, t);
            assert!((angle(&a, &p) - 1.2 * t).abs() < 1e-3, "t {t}");
        }
    }

    #[test]
    fn stones_take_the_nearest_per_stretch_in_order() {
        let path: Vec<Vec<f32>> = (0..=PATH_SAMPLES).map(|s| at(s as f32 / 64.0)).collect();
        let points = [at(0.9), at(0.1), at(0.125), vec![0.0, 0.0, 1.0]];
        let placed: Vec<Stone> =
            points.iter().enumerate().map(|(i, x)| place(i, x, &path)).collect();
        let stones = pick_stones(placed, 2);
        assert_eq!(stones.iter().map(|s| s.situation).collect::<Vec<_>>(), vec![2, 0]);
        assert!(stones[0].distance < 1e-3);
    }
}
