//! Overlaps between agents' scopes: pairs of caps of different agents that
//! share a point, by the exact test `angle(c1, c2) <= r1 + r2`.

use crate::ScopeIndex;
use ndarray::Array2;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Two agents whose scopes intersect.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Overlap {
    /// The lower agent number.
    pub a: u32,
    /// The higher agent number.
    pub b: u32,
    /// The deepest intersection over their prototype pairs:
    /// `r1 + r2 - angle(c1, c2)`, in radians, at least 0.
    pub depth: f32,
    /// The prototypes (of `a`, of `b`) giving that depth.
    pub prototypes: (u32, u32),
    /// How many prototype pairs intersect.
    pub pairs: usize,
}

impl ScopeIndex {
    /// Every pair of agents with intersecting caps, by agent pair; with
    /// `agent`, only the pairs that include it. Costs one matrix product of
    /// the chosen prototypes against all centres.
    pub fn overlaps(&self, agent: Option<u32>) -> Vec<Overlap> {
        let rows: Vec<usize> =
            (0..self.len()).filter(|&i| agent.is_none_or(|a| self.agent_of(i) == a)).collect();
        let mut batch = Array2::zeros((rows.len(), self.dim()));
        for (r, &i) in rows.iter().enumerate() {
            batch.row_mut(r).assign(&ndarray::aview1(self.centre_of(i)));
        }
        let per_row = self.map_rows(batch.view(), |r, cosines| {
            self.row_overlaps(rows[r], cosines, agent.is_some())
        });
        merge(per_row.into_iter().flatten())
    }

    /// Intersections of prototype `i` with other agents' prototypes. Without
    /// a chosen agent each unordered pair is kept once (the lower agent's
    /// row); with one, every pair of its rows is kept.
    fn row_overlaps(&self, i: usize, cosines: &[f32], chosen: bool) -> Vec<Overlap> {
        let (agent, radius) = (self.agent_of(i), self.radius_of(i));
        cosines
            .iter()
            .enumerate()
            .filter(|&(j, _)| {
                let other = self.agent_of(j);
                other != agent && (chosen || other > agent)
            })
            .filter_map(|(j, &cos)| {
                let depth = radius + self.radius_of(j) - crate::geometry::angle_from_cos(cos);
                (depth >= 0.0).then(|| {
                    let other = self.agent_of(j);
                    let (a, b, pa, pb) = if agent < other {
                        (agent, other, i as u32, j as u32)
                    } else {
                        (other, agent, j as u32, i as u32)
                    };
                    Overlap { a, b, depth, prototypes: (pa, pb), pairs: 1 }
                })
            })
            .collect()
    }
}

/// One overlap per agent pair: the deepest, with the pairs counted.
fn merge(all: impl Iterator<Item = Overlap>) -> Vec<Overlap> {
    let mut by_pair: BTreeMap<(u32, u32), Overlap> = BTreeMap::new();
    for o in all {
        by_pair
            .entry((o.a, o.b))
            .and_modify(|best| {
                best.pairs += 1;
                if o.depth > best.depth {
                    (best.depth, best.prototypes) = (o.depth, o.prototypes);
                }
            })
            .or_insert(o);
    }
    by_pair.into_values().collect()
}

/// Connected groups of agents in the overlap graph (each of two or more,
/// sorted, largest group first), and the agents among `agents` that overlap
/// nobody.
pub fn overlap_groups(agents: &[u32], overlaps: &[Overlap]) -> (Vec<Vec<u32>>, Vec<u32>) {
    let mut parent: BTreeMap<u32, u32> = agents.iter().map(|&a| (a, a)).collect();
    for o in overlaps {
        parent.entry(o.a).or_insert(o.a);
        parent.entry(o.b).or_insert(o.b);
        let (ra, rb) = (root(&mut parent, o.a), root(&mut parent, o.b));
        parent.insert(ra.max(rb), ra.min(rb));
    }
    let mut groups: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    let keys: Vec<u32> = parent.keys().copied().collect();
    for a in keys {
        let r = root(&mut parent, a);
        groups.entry(r).or_default().push(a);
    }
    let (mut many, single): (Vec<Vec<u32>>, Vec<Vec<u32>>) =
        groups.into_values().partition(|g| g.len() > 1);
    many.sort_by(|x, y| y.len().cmp(&x.len()).then(x.cmp(y)));
    let alone = single.into_iter().flatten().filter(|a| agents.contains(a)).collect();
    (many, alone)
}

/// The root of `a` in a union-find forest, halving paths on the way.
fn root(parent: &mut BTreeMap<u32, u32>, mut a: u32) -> u32 {
    while let Some(&p) = parent.get(&a) {
        if p == a {
            break;
        }
        let grand = parent.get(&p).copied().unwrap_or(p);
        parent.insert(a, grand);
        a = grand;
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Cap, Prototype};

    fn at(theta: f32) -> Vec<f32> {
        vec![theta.cos(), theta.sin(), 0.0]
    }

    fn index(caps: &[(u32, f32, f32)]) -> ScopeIndex {
        let prototypes = caps
            .iter()
            .map(|&(agent, c, r)| Prototype { agent, cap: Cap::try_new(at(c), r).unwrap() })
            .collect();
        ScopeIndex::try_new(3, prototypes).unwrap()
    }

    #[test]
    fn pairs_depth_and_groups() {
        // Agent 0 spans 0 and 1.0; agent 1 at 1.5 touches 0's second cap by
        // 0.3 + 0.4 - 0.5 = 0.2; agent 2 at 0.1 sits inside 0's first cap;
        // agent 3 at 3.0 is alone.
        let idx =
            index(&[(0, 0.0, 0.3), (0, 1.0, 0.3), (1, 1.5, 0.4), (2, 0.1, 0.05), (3, 3.0, 0.1)]);
        let all = idx.overlaps(None);
        let pairs: Vec<(u32, u32)> = all.iter().map(|o| (o.a, o.b)).collect();
        assert_eq!(pairs, vec![(0, 1), (0, 2)]);
        assert!((all[0].depth - 0.2).abs() < 1e-4);
        assert_eq!(all[0].prototypes, (1, 2));
        assert_eq!(idx.overlaps(Some(1)), vec![all[0]]);
        let (groups, alone) = overlap_groups(&[0, 1, 2, 3], &all);
        assert_eq!(groups, vec![vec![0, 1, 2]]);
        assert_eq!(alone, vec![3]);
    }
}
