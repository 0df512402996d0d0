//! The hnsw engine's graphs for a bureau: loaded from the dump beside the
//! store's file when it matches the store's revision, otherwise rebuilt and
//! dumped again. A stale or damaged dump is never used.

use crate::scopes::{Bureau, Episode};
use crate::store::Store;
use crate::Error;
use bureau_index::{prefers_hnsw, Engine, EngineChoice, HnswParams, Policy};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Where the graphs a query needed came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GraphSource {
    /// The exact engine serves this query; no graph was needed.
    Unneeded,
    /// Graphs were already held.
    Held,
    /// Loaded from a dump stamped with the store's revision.
    Loaded,
    /// Built (no usable dump) and dumped for next time.
    Built,
}

/// The dump directory of the store at `db`: `<db>.index`.
pub fn dump_dir(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".index");
    PathBuf::from(name)
}

impl Bureau {
    /// Makes sure the hnsw graphs exist when `choice` will need them for a
    /// batch of `batch` situations: loads the store's dump or rebuilds it.
    pub fn prepare_graphs(
        &mut self,
        store: &Store,
        choice: EngineChoice,
        batch: usize,
    ) -> Result<GraphSource, Error> {
        let needed = match choice {
            EngineChoice::Exact => false,
            EngineChoice::Hnsw => true,
            EngineChoice::Auto => prefers_hnsw(self.index.len(), batch),
        };
        if !needed || self.index.is_empty() {
            return Ok(GraphSource::Unneeded);
        }
        if self.index.has_graphs() {
            return Ok(GraphSource::Held);
        }
        let (dir, revision) = (dump_dir(store.path()), store.revision()?);
        match self.index.load_graphs(&dir, revision) {
            Ok(()) => {
                tracing::debug!(dir = %dir.display(), revision, "loaded hnsw graphs");
                return Ok(GraphSource::Loaded);
            }
            Err(reason) => {
                tracing::warn!(%reason, "graph dump unusable; rebuilding the hnsw graphs")
            }
        }
        self.index.build_graphs(&HnswParams::default());
        if let Err(reason) = self.index.dump_graphs(&dir, revision) {
            tracing::warn!(%reason, "cannot dump the hnsw graphs; they will be rebuilt next time");
        }
        tracing::debug!(dir = %dir.display(), revision, "built hnsw graphs");
        Ok(GraphSource::Built)
    }

    /// Who joins the episode on each situation, on the chosen engine, and
    /// which engine ran.
    pub fn who_by(
        &self,
        situations: &[Vec<f32>],
        policy: &Policy,
        choice: EngineChoice,
    ) -> Result<(Vec<Episode>, Engine), Error> {
        if self.index.is_empty() {
            return Ok((self.who(situations, policy)?, Engine::Exact));
        }
        let flat: Vec<f32> = situations.iter().flatten().copied().collect();
        let answer = self.index.participants_by(&flat, policy, choice)?;
        tracing::debug!(engine = ?answer.engine, situations = situations.len(), "membership");
        Ok((answer.rows.iter().map(|p| self.episode(p)).collect(), answer.engine))
    }
}
