//! Participants of an episode: the agents whose scopes hold a situation,
//! ranked by depth, with the near misses an operator wants to see.

use crate::geometry::{angle_from_cos, depth};
use crate::{IndexError, ScopeIndex};
use serde::{Deserialize, Serialize};

/// Which agents join an episode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    /// At most this many participants, the deepest first; `None` for all.
    pub max_participants: Option<usize>,
    /// Participants must lie at least this deep (0 = on the boundary).
    pub min_depth: f32,
    /// Agents with depth in `[-near_miss, 0)` are reported as near misses.
    pub near_miss: f32,
    /// A situation held by fewer agents is flagged as under-covered.
    pub min_cover: usize,
}

impl Default for Policy {
    fn default() -> Self {
        Policy { max_participants: None, min_depth: 0.0, near_miss: 0.25, min_cover: 1 }
    }
}

/// One agent's place in an episode: its deepest prototype.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Participant {
    /// Agent number.
    pub agent: u32,
    /// Depth in the agent's scope: the largest over its prototypes.
    pub depth: f32,
    /// The prototype giving that depth.
    pub prototype: u32,
    /// Angle from the situation to that prototype's centre.
    pub angle: f32,
}

/// The outcome of the participant query for one situation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Participation {
    /// Agents that join, deepest first.
    pub participants: Vec<Participant>,
    /// Agents just outside (or inside but shallower than `min_depth`, or cut
    /// by `max_participants`), deepest first.
    pub near_misses: Vec<Participant>,
    /// Number of scopes that hold the situation, before the policy's cuts.
    pub cover: usize,
    /// Whether `cover` is below the policy's `min_cover`.
    pub under_covered: bool,
}

impl ScopeIndex {
    /// Participants for each situation of a flat row-major batch.
    pub fn participants(
        &self,
        situations: &[f32],
        policy: &Policy,
    ) -> Result<Vec<Participation>, IndexError> {
        let batch = self.view(situations)?;
        Ok(self.map_rows(batch, |_, cosines| self.participation(cosines, policy)))
    }

    /// Each agent's deepest prototype for one situation, as a dense table.
    fn deepest(&self, cosines: &[f32]) -> Vec<Option<Participant>> {
        let mut best: Vec<Option<Participant>> = vec![None; self.n_agents()];
        for (i, &cos) in cosines.iter().enumerate() {
            let theta = angle_from_cos(cos);
            let d = depth(theta, self.radius_of(i));
            let agent = self.agent_of(i);
            let slot = &mut best[agent as usize];
            if slot.is_none_or(|p| d > p.depth) {
                *slot = Some(Participant { agent, depth: d, prototype: i as u32, angle: theta });
            }
        }
        best
    }

    fn participation(&self, cosines: &[f32], policy: &Policy) -> Participation {
        rank(self.deepest(cosines).into_iter().flatten().collect(), policy)
    }

    /// Participation from a sparse list of candidate prototypes with their
    /// cosines; it must hold every prototype within `(1 + near_miss) * r` of
    /// the situation for the answer to equal the dense one.
    pub(crate) fn participation_sparse(
        &self,
        candidates: &[(u32, f32)],
        policy: &Policy,
    ) -> Participation {
        let mut all: Vec<Participant> = candidates
            .iter()
            .map(|&(i, cos)| {
                let theta = angle_from_cos(cos);
                let d = depth(theta, self.radius_of(i as usize));
                Participant {
                    agent: self.agent_of(i as usize),
                    depth: d,
                    prototype: i,
                    angle: theta,
                }
            })
            .collect();
        // Deepest prototype per agent; ties go to the lower prototype number,
        // as in the dense scan.
        all.sort_by(|a, b| {
            a.agent
                .cmp(&b.agent)
                .then(b.depth.total_cmp(&a.depth))
                .then(a.prototype.cmp(&b.prototype))
        });
        all.dedup_by_key(|p| p.agent);
        rank(all, policy)
    }
}

/// Ranks each agent's deepest prototype and applies the policy's cuts.
fn rank(mut ranked: Vec<Participant>, policy: &Policy) -> Participation {
    ranked.sort_by(|a, b| b.depth.total_cmp(&a.depth).then(a.agent.cmp(&b.agent)));
    let cover = ranked.iter().filter(|p| p.depth >= 0.0).count();
    let limit = policy.max_participants.unwrap_or(usize::MAX);
    let (mut participants, mut near_misses) = (Vec::new(), Vec::new());
    for p in ranked {
        if p.depth >= policy.min_depth.max(0.0) && participants.len() < limit {
            participants.push(p);
        } else if p.depth >= -policy.near_miss {
            near_misses.push(p);
        } else {
            break;
        }
    }
    Participation { participants, near_misses, cover, under_covered: cover < policy.min_cover }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Cap, Prototype};

    fn at(theta: f32) -> Vec<f32> {
        vec![theta.cos(), theta.sin(), 0.0]
    }

    fn index() -> ScopeIndex {
        let caps = [(0, 0.0, 0.5), (0, 1.0, 0.3), (1, 0.2, 0.5), (2, 1.5, 0.2)];
        let prototypes = caps
            .iter()
            .map(|&(agent, c, r)| Prototype { agent, cap: Cap::try_new(at(c), r).unwrap() })
            .collect();
        ScopeIndex::try_new(3, prototypes).unwrap()
    }

    #[test]
    fn ranks_by_depth_and_keeps_near_misses() {
        let result = index().participants(&at(0.15), &Policy::default()).unwrap();
        let p = &result[0];
        let agents: Vec<u32> = p.participants.iter().map(|p| p.agent).collect();
        assert_eq!(agents, vec![1, 0]);
        assert!(p.near_misses.is_empty());
        assert_eq!(p.cover, 2);
        // At 1.26 agent 0's second cap (1.0, 0.3) holds, agent 2 (1.5, 0.2)
        // is 0.04 outside a 0.2 radius: depth -0.2, a near miss.
        let p = &index().participants(&at(1.26), &Policy::default()).unwrap()[0];
        assert_eq!(p.participants.iter().map(|p| p.agent).collect::<Vec<_>>(), vec![0]);
        assert_eq!(p.participants[0].prototype, 1);
        assert_eq!(p.near_misses.len(), 1);
        assert_eq!(p.near_misses[0].agent, 2);
    }

    #[test]
    fn policy_cuts_and_flags() {
        let policy = Policy { max_participants: Some(1), min_cover: 3, ..Policy::default() };
        let p = &index().participants(&at(0.15), &policy).unwrap()[0];
        assert_eq!(p.participants.len(), 1);
        assert_eq!(p.near_misses.len(), 1);
        assert!(p.under_covered);
        let deep = Policy { min_depth: 0.95, ..Policy::default() };
        let p = &index().participants(&at(0.15), &deep).unwrap()[0];
        assert!(p.participants.is_empty());
        assert_eq!(p.cover, 2);
    }
}
