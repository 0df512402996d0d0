//! Choosing the membership engine, and running either one with the same
//! output types, so participants are computed alike on both.

use crate::hnsw::{Graphs, HnswParams};
use crate::{Hit, IndexError, Participation, Policy, ScopeIndex};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Fewest prototypes for which the hnsw engine beats the exact one on a
/// single situation. Measured with `bureau bench membership --layout bands
/// --queries 200 --prototypes N` (benches/README.md): hnsw answered at
/// 0.76x the exact engine's rate at N = 250 and 1.24x at N = 500.
pub const CROSSOVER_SINGLE: usize = 400;

/// Fewest prototypes for which the hnsw engine beats the exact one on a batch:
/// the exact engine turns a batch into one matrix product. Same benchmark,
/// batch of 200: exact answered 256 situations/s against hnsw's 211 at
/// N = 300,000, and 100 against 175 at N = 500,000.
pub const CROSSOVER_BATCH: usize = 400_000;

/// An engine that answered a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// Matrix product against every centre.
    Exact,
    /// hnsw candidates, verified exactly.
    Hnsw,
}

/// Which engine a caller asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineChoice {
    /// Always the exact engine.
    Exact,
    /// Always the hnsw engine; its graphs must exist.
    Hnsw,
    /// The faster for this batch and index, by the measured crossover.
    #[default]
    Auto,
}

/// Rows of an answer, with the engine that computed them.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer<T> {
    /// One row per situation, in input order.
    pub rows: Vec<T>,
    /// The engine that ran.
    pub engine: Engine,
}

/// Whether `Auto` prefers the hnsw engine for `batch` situations over
/// `prototypes` prototypes (graphs permitting).
pub fn prefers_hnsw(prototypes: usize, batch: usize) -> bool {
    let crossover = if batch <= 1 { CROSSOVER_SINGLE } else { CROSSOVER_BATCH };
    prototypes >= crossover
}

impl ScopeIndex {
    /// Builds the hnsw engine's graphs over the current prototypes,
    /// replacing any graphs held before.
    pub fn build_graphs(&mut self, params: &HnswParams) {
        let graphs = Graphs::build(params, self.centres(), self.dim(), self.radii());
        self.graphs = Some(Arc::new(graphs));
    }

    /// Sets the search-time parameters of the graphs held (no rebuild):
    /// the candidate list width and the first k of the widening search.
    /// Returns false when no graphs are held or they are shared with a
    /// clone of this index, which keeps its own parameters.
    pub fn set_search(&mut self, ef_search: usize, k_start: usize) -> bool {
        match self.graphs.as_mut().and_then(Arc::get_mut) {
            Some(graphs) => {
                graphs.params.ef_search = ef_search;
                graphs.params.k_start = k_start;
                true
            }
            None => false,
        }
    }

    /// Whether the hnsw engine's graphs are built or loaded.
    pub fn has_graphs(&self) -> bool {
        self.graphs.is_some()
    }

    /// The hnsw parameters of the graphs held, if any.
    pub fn graph_params(&self) -> Option<&HnswParams> {
        self.graphs.as_ref().map(|g| &g.params)
    }

    /// The engine `choice` resolves to for a batch of `batch` situations.
    pub fn engine_for(&self, choice: EngineChoice, batch: usize) -> Result<Engine, IndexError> {
        match choice {
            EngineChoice::Exact => Ok(Engine::Exact),
            EngineChoice::Hnsw if self.has_graphs() => Ok(Engine::Hnsw),
            EngineChoice::Hnsw => Err(IndexError::NoGraphs),
            EngineChoice::Auto if self.has_graphs() && prefers_hnsw(self.len(), batch) => {
                Ok(Engine::Hnsw)
            }
            EngineChoice::Auto => Ok(Engine::Exact),
        }
    }

    /// [`ScopeIndex::membership`] on the chosen engine: every prototype that
    /// holds each situation, in prototype order.
    pub fn membership_by(
        &self,
        situations: &[f32],
        choice: EngineChoice,
    ) -> Result<Answer<Vec<Hit>>, IndexError> {
        let batch = self.view(situations)?;
        let engine = self.engine_for(choice, batch.nrows())?;
        let rows = match engine {
            Engine::Exact => self.membership(situations)?,
            Engine::Hnsw => {
                self.sparse_rows(self.graphs()?, situations, 1.0, |found| self.hits_of(found))
            }
        };
        Ok(Answer { rows, engine })
    }

    /// [`ScopeIndex::participants`] on the chosen engine.
    pub fn participants_by(
        &self,
        situations: &[f32],
        policy: &Policy,
        choice: EngineChoice,
    ) -> Result<Answer<Participation>, IndexError> {
        let batch = self.view(situations)?;
        let engine = self.engine_for(choice, batch.nrows())?;
        let rows = match engine {
            Engine::Exact => self.participants(situations, policy)?,
            Engine::Hnsw => {
                let widen = 1.0 + policy.near_miss.max(0.0);
                self.sparse_rows(self.graphs()?, situations, widen, |found| {
                    self.participation_sparse(&found, policy)
                })
            }
        };
        Ok(Answer { rows, engine })
    }

    /// Runs the hnsw candidates of every situation (checked by the caller)
    /// through `each`, in parallel.
    fn sparse_rows<T, F>(&self, graphs: &Graphs, situations: &[f32], widen: f32, each: F) -> Vec<T>
    where
        T: Send,
        F: Fn(Vec<(u32, f32)>) -> T + Sync,
    {
        let limits = graphs.limits(self.radii(), widen);
        situations
            .par_chunks(self.dim())
            .map(|q| each(graphs.candidates(q, self.centres(), self.radii(), &limits, widen)))
            .collect()
    }

    fn graphs(&self) -> Result<&Graphs, IndexError> {
        self.graphs.as_deref().ok_or(IndexError::NoGraphs)
    }

    /// Hits from verified candidates, in prototype order.
    fn hits_of(&self, mut found: Vec<(u32, f32)>) -> Vec<Hit> {
        found.sort_by_key(|&(i, _)| i);
        found
            .into_iter()
            .map(|(i, cos)| {
                let angle = crate::geometry::angle_from_cos(cos);
                let radius = self.radius_of(i as usize);
                let depth = crate::geometry::depth(angle, radius);
                Hit { prototype: i, agent: self.agent_of(i as usize), angle, depth }
            })
            .collect()
    }
}
