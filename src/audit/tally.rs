//! The counting core of audit: per-agent tallies of evidence rows against
//! fitted scopes, fed block by block so memory stays flat.
//!
//! Each agent's prototypes sit in their own exact index
//! ([`bureau_index::ScopeIndex`]) as caps of radius pi, so one membership
//! call returns the angle from every row to every centre of that agent;
//! from those angles come the row's score (`min_i theta / s_i`, as in
//! fitting), whether the fitted radii hold it, and its depth. A block's rows
//! are grouped by agent and the groups scored in parallel.

use crate::fit::risk::{fit_risk_counts, RiskConfig, RiskError};
use crate::fit::risk::{RiskFit, SplitCounts, ORDERING_STRIDE};
use crate::store::StoredPrototype;
use bureau_index::{Cap, IndexError, Prototype, ScopeIndex};
use rayon::prelude::*;
use serde::Serialize;
use std::f32::consts::PI;

/// Failures inside a scope kept per agent, deepest first.
pub const DEEPEST: usize = 5;

/// One evidence row of a block, borrowed from its reader.
#[derive(Debug, Clone, Copy)]
pub struct AuditRow<'a> {
    /// Dense agent number, an index into the scopes given to [`Counter`].
    pub agent: u32,
    /// Whether the agent failed.
    pub failed: bool,
    /// The situation's unit embedding.
    pub embedding: &'a [f32],
    /// 1-based line in the input, for the report.
    pub line: usize,
    /// The situation's text, kept only for the deepest failures.
    pub text: &'a str,
}

/// A failure inside a scope, with how deep it lies.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Deepest {
    /// 1-based line in the audited file.
    pub line: usize,
    /// The situation's text.
    pub text: String,
    /// Depth in the scope: 1 at a centre, 0 on the boundary.
    pub depth: f32,
}

/// Counts of one agent's rows.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// `ok` rows inside the scope.
    pub inside_ok: u64,
    /// `fail` rows inside the scope.
    pub inside_fail: u64,
    /// `ok` rows outside.
    pub outside_ok: u64,
    /// `fail` rows outside.
    pub outside_fail: u64,
    /// The deepest failures inside, deepest first, at most [`DEEPEST`].
    pub deepest: Vec<Deepest>,
    /// Per split (ordering, testing), rows per grid bin as `(n, failures)`;
    /// the last bin holds scores beyond the grid.
    bins: [Vec<(u64, u64)>; 2],
}

/// Where a row lies relative to one agent's scope.
#[derive(Debug, Clone, Copy)]
struct Placement {
    score: f64,
    inside: bool,
    depth: f32,
}

/// One agent's prototypes laid out for scoring.
#[derive(Debug)]
struct AgentScope {
    /// Caps of radius pi on the agent's centres; `None` for an empty scope.
    index: Option<ScopeIndex>,
    spreads: Vec<f32>,
    radii: Vec<f32>,
}

/// Tallies of every agent over the blocks seen so far.
#[derive(Debug)]
pub struct Counter {
    scopes: Vec<AgentScope>,
    tallies: Vec<Tally>,
    grid: Vec<f64>,
}

impl Counter {
    /// A counter for agents `0..scopes.len()`, each given by its stored
    /// prototypes, counting scores on `grid` (strictly increasing).
    pub fn try_new(scopes: &[Vec<StoredPrototype>], grid: Vec<f64>) -> Result<Self, IndexError> {
        let bins = || [vec![(0, 0); grid.len() + 1], vec![(0, 0); grid.len() + 1]];
        let tallies = scopes.iter().map(|_| Tally { bins: bins(), ..Tally::default() }).collect();
        let scopes = scopes.iter().map(|p| agent_scope(p)).collect::<Result<_, _>>()?;
        Ok(Counter { scopes, tallies, grid })
    }

    /// Every agent's tally, by agent number.
    pub fn tallies(&self) -> &[Tally] {
        &self.tallies
    }

    /// Adds a block of rows. Within an agent, rows count in block order,
    /// which fixes the position split of [`Counter::accepted`].
    pub fn add_block(&mut self, rows: &[AuditRow]) -> Result<(), IndexError> {
        let groups = group_by_agent(rows, self.scopes.len());
        let placed: Vec<Vec<Placement>> = groups
            .par_iter()
            .map(|(agent, members)| self.place(*agent, members, rows))
            .collect::<Result<_, _>>()?;
        for ((agent, members), placements) in groups.iter().zip(placed) {
            let tally = &mut self.tallies[*agent as usize];
            for (&i, p) in members.iter().zip(placements) {
                tally.add(&rows[i], p, &self.grid);
            }
        }
        Ok(())
    }

    /// Places one agent's rows of a block against its scope.
    fn place(
        &self,
        agent: u32,
        members: &[usize],
        rows: &[AuditRow],
    ) -> Result<Vec<Placement>, IndexError> {
        let scope = &self.scopes[agent as usize];
        let Some(index) = &scope.index else {
            let outside =
                Placement { score: f64::INFINITY, inside: false, depth: f32::NEG_INFINITY };
            return Ok(vec![outside; members.len()]);
        };
        let flat: Vec<f32> = members.iter().flat_map(|&i| rows[i].embedding).copied().collect();
        let hits = index.membership(&flat)?;
        Ok(hits.iter().map(|row| scope.placement(row)).collect())
    }

    /// The scale this agent's rows would certify at `config`, by
    /// [`fit_risk_counts`] on the tallied bins: the same answer as
    /// `fit_risk` on the rows' `(score, failed)` in their order.
    pub fn accepted(&self, agent: usize, config: &RiskConfig) -> Result<RiskFit, RiskError> {
        let [ordering, testing] = &self.tallies[agent].bins;
        fit_risk_counts(&cumulative(ordering), &cumulative(testing), config)
    }
}

impl AgentScope {
    /// Score, membership and depth of one row from its hits, which hold
    /// every prototype (radius pi) in prototype order.
    fn placement(&self, hits: &[bureau_index::Hit]) -> Placement {
        let mut p = Placement { score: f64::INFINITY, inside: false, depth: f32::NEG_INFINITY };
        for h in hits {
            let i = h.prototype as usize;
            p.score = p.score.min(f64::from(h.angle) / f64::from(self.spreads[i]));
            p.inside |= h.angle <= self.radii[i];
            p.depth = p.depth.max((self.radii[i] - h.angle) / self.radii[i]);
        }
        p
    }
}

impl Tally {
    fn add(&mut self, row: &AuditRow, p: Placement, grid: &[f64]) {
        match (p.inside, row.failed) {
            (true, false) => self.inside_ok += 1,
            (true, true) => self.inside_fail += 1,
            (false, false) => self.outside_ok += 1,
            (false, true) => self.outside_fail += 1,
        }
        if p.inside && row.failed {
            self.keep_if_deep(row, p.depth);
        }
        let seen = self.inside_ok + self.inside_fail + self.outside_ok + self.outside_fail - 1;
        let split = usize::from(seen as usize % ORDERING_STRIDE != ORDERING_STRIDE - 1);
        let bin = grid.partition_point(|&g| g < p.score);
        let cell = &mut self.bins[split][bin];
        cell.0 += 1;
        cell.1 += u64::from(row.failed);
    }

    /// Keeps a failure among the deepest; on equal depth the earlier row stays.
    fn keep_if_deep(&mut self, row: &AuditRow, depth: f32) {
        let at = self.deepest.partition_point(|d| d.depth >= depth);
        if at < DEEPEST {
            self.deepest.insert(at, Deepest { line: row.line, text: row.text.to_owned(), depth });
            self.deepest.truncate(DEEPEST);
        }
    }
}

/// Cumulative `(inside, failures)` per grid scale from per-bin counts.
fn cumulative(bins: &[(u64, u64)]) -> SplitCounts {
    let mut on_grid = Vec::with_capacity(bins.len().saturating_sub(1));
    let (mut n, mut k) = (0, 0);
    for &(a, b) in &bins[..bins.len().saturating_sub(1)] {
        n += a;
        k += b;
        on_grid.push((n, k));
    }
    let len = bins.iter().map(|b| b.0).sum::<u64>() as usize;
    SplitCounts { on_grid, len }
}

/// Row positions per agent, agents ascending, rows in block order.
fn group_by_agent(rows: &[AuditRow], n_agents: usize) -> Vec<(u32, Vec<usize>)> {
    let mut by_agent: Vec<Vec<usize>> = vec![Vec::new(); n_agents];
    for (i, r) in rows.iter().enumerate() {
        by_agent[r.agent as usize].push(i);
    }
    by_agent
        .into_iter()
        .enumerate()
        .filter(|(_, m)| !m.is_empty())
        .map(|(a, m)| (a as u32, m))
        .collect()
}

/// An agent's caps of radius pi, so membership returns every angle.
fn agent_scope(prototypes: &[StoredPrototype]) -> Result<AgentScope, IndexError> {
    let dim = prototypes.first().map_or(0, |p| p.centre.len());
    let caps = prototypes
        .iter()
        .map(|p| Ok(Prototype { agent: 0, cap: Cap::try_new(p.centre.clone(), PI)? }))
        .collect::<Result<Vec<_>, IndexError>>()?;
    let index = (!caps.is_empty()).then(|| ScopeIndex::try_new(dim, caps)).transpose()?;
    let spreads = prototypes.iter().map(|p| p.spread).collect();
    Ok(AgentScope { index, spreads, radii: prototypes.iter().map(|p| p.radius).collect() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fit::risk::{default_grid, fit_risk};

    fn unit(theta: f32) -> Vec<f32> {
        vec![theta.cos(), theta.sin()]
    }

    fn cap(theta: f32, spread: f32, radius: f32) -> StoredPrototype {
        StoredPrototype { centre: unit(theta), spread, radius }
    }

    #[test]
    fn counts_depths_and_accepted_scale_match_the_direct_computation() {
        let scopes = vec![vec![cap(0.0, 0.2, 0.4)], vec![]];
        let mut counter = Counter::try_new(&scopes, default_grid()).expect("unit centres");
        let angles: Vec<f32> = (0..400).map(|i| i as f32 * 0.0021).collect();
        let vectors: Vec<Vec<f32>> = angles.iter().map(|&a| unit(a)).collect();
        let rows: Vec<AuditRow> = vectors
            .iter()
            .enumerate()
            .map(|(i, v)| AuditRow {
                agent: (i % 2) as u32,
                failed: i % 7 == 0,
                embedding: v,
                line: i + 1,
                text: "t",
            })
            .collect();
        for block in rows.chunks(64) {
            counter.add_block(block).expect("dimension 2");
        }
        let t = &counter.tallies()[0];
        let mine: Vec<&AuditRow> = rows.iter().filter(|r| r.agent == 0).collect();
        let theta = |r: &AuditRow| bureau_index::geometry::angle(r.embedding, &unit(0.0));
        let inside = |r: &&&AuditRow| theta(r) <= 0.4;
        let count = |inside_wanted: bool, failed: bool| {
            mine.iter().filter(|r| inside(r) == inside_wanted && r.failed == failed).count() as u64
        };
        assert_eq!((t.inside_ok, t.inside_fail), (count(true, false), count(true, true)));
        assert_eq!((t.outside_ok, t.outside_fail), (count(false, false), count(false, true)));
        assert_eq!(t.deepest.len(), DEEPEST);
        assert_eq!(t.deepest[0].line, 1, "the row at the centre is deepest");
        let points: Vec<(f64, bool)> =
            mine.iter().map(|r| (f64::from(theta(r)) / 0.2, r.failed)).collect();
        let config = RiskConfig::new(0.2, 0.1);
        let direct = fit_risk(&points, &config).expect("valid");
        assert_eq!(counter.accepted(0, &config).expect("valid"), direct);
        let empty = &counter.tallies()[1];
        assert_eq!(empty.inside_ok + empty.inside_fail, 0);
        assert!(empty.outside_ok > 0);
    }
}
