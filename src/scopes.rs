//! Fitting every agent's scope, and loading the fitted scopes into the
//! membership index to answer who joins each episode.

use crate::fit::{fit_scope, FitOptions};
use crate::store::{
    replace_fit, Agent, EvidenceRow, FitRecord, Outcome, ScopeRow, Store, StoreError,
};
use crate::{Error, Progress};
use bureau_index::{Cap, Participant, Policy, Prototype, ScopeIndex};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;
use serde::Serialize;
use std::sync::atomic::{AtomicUsize, Ordering};

/// What one agent's fit produced.
#[derive(Debug, Clone, Serialize)]
pub struct FitSummary {
    /// Agent name.
    pub agent: String,
    /// The stored fit record.
    pub fit: FitRecord,
}

/// Fits the named agent, or every agent, in the mode `options` asks for
/// (coverage, or risk when `options.risk` is set) and stores the fits in
/// one transaction. Agents are fitted in parallel.
pub fn fit_agents(
    store: &mut Store,
    agent: Option<&str>,
    options: &FitOptions,
    progress: Progress,
) -> Result<Vec<FitSummary>, Error> {
    let agents = match agent {
        Some(name) => vec![store.agent(name)?],
        None => refittable(store)?,
    };
    let model_id = store.model_id()?.unwrap_or_default();
    let evidence = agents.iter().map(|a| store.evidence(a.id)).collect::<Result<Vec<_>, _>>()?;
    let all = store.agents()?;
    let everyone = all.iter().map(|a| store.evidence(a.id)).collect::<Result<Vec<_>, _>>()?;
    let done = AtomicUsize::new(0);
    let fits: Vec<_> = agents
        .par_iter()
        .zip(&evidence)
        .map(|(agent, rows)| {
            let others = all.iter().zip(&everyone).filter(|(a, _)| a.id != agent.id);
            let outside = outside_sample(rows, others.map(|(_, e)| e.as_slice()), options.seed);
            let fitted = fit_scope(rows, &outside, options, &model_id);
            progress("fitting", done.fetch_add(1, Ordering::Relaxed) + 1, agents.len());
            fitted
        })
        .collect::<Result<_, _>>()?;
    let path = store.path().to_owned();
    store.write(|tx| {
        for (a, f) in agents.iter().zip(&fits) {
            replace_fit(tx, a.id, &f.record, &f.prototypes)
                .map_err(|source| StoreError::Sqlite { path: path.clone(), source })?;
        }
        Ok(())
    })?;
    Ok(agents
        .into_iter()
        .zip(fits)
        .map(|(a, f)| FitSummary { agent: a.name, fit: f.record })
        .collect())
}

/// Every agent but the gap drafts that have no evidence yet: a fit of
/// all agents keeps a draft's region until evidence arrives for it (a
/// draft with no evidence would fit to an empty scope and lose its region).
fn refittable(store: &Store) -> Result<Vec<Agent>, Error> {
    let mut agents = Vec::new();
    for scope in store.scopes()? {
        if crate::gaps::is_draft(&scope) && store.evidence(scope.agent.id)?.is_empty() {
            tracing::info!(agent = %scope.agent.name, "draft with no evidence kept as it is");
            continue;
        }
        agents.push(scope.agent);
    }
    Ok(agents)
}

/// Most outside situations used to choose k; a sample keeps choosing cheap
/// in a large bureau.
const OUTSIDE_SAMPLE: usize = 4000;

/// Situations an agent must not be claimed on: its own failures and a seeded
/// sample of other agents' `ok` situations.
fn outside_sample<'a>(
    own: &'a [EvidenceRow],
    others: impl Iterator<Item = &'a [EvidenceRow]>,
    seed: u64,
) -> Vec<Vec<f32>> {
    let failures = own.iter().filter(|e| e.outcome == Outcome::Fail);
    let foreign = others.flatten().filter(|e| e.outcome == Outcome::Ok);
    let mut outside: Vec<Vec<f32>> = failures.chain(foreign).map(|e| e.embedding.clone()).collect();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    outside.shuffle(&mut rng);
    outside.truncate(OUTSIDE_SAMPLE);
    outside
}

/// The fitted bureau: every agent's scope in one membership index.
#[derive(Debug)]
pub struct Bureau {
    /// Agents in index order: agent number i in the index is `scopes[i]`.
    pub scopes: Vec<ScopeRow>,
    /// The membership index over all prototypes.
    pub index: ScopeIndex,
}

/// One agent in an episode, by name.
#[derive(Debug, Clone, Serialize)]
pub struct Member {
    /// Agent name.
    pub agent: String,
    /// Depth in the agent's scope (negative for a near miss).
    pub depth: f32,
    /// Angle in radians to the agent's nearest-by-depth prototype.
    pub angle: f32,
}

/// Who joins the episode on one situation.
#[derive(Debug, Clone, Serialize)]
pub struct Episode {
    /// Participants, deepest first.
    pub participants: Vec<Member>,
    /// Agents just outside (depth in [-0.25, 0)), and agents inside but cut
    /// by the policy (shallower than its minimum depth, or past its maximum
    /// count), deepest first.
    pub near_misses: Vec<Member>,
    /// Number of scopes holding the situation.
    pub cover: usize,
    /// Whether cover is below the policy's minimum.
    pub under_covered: bool,
}

impl Bureau {
    /// Loads every agent's active scope from the store, gap drafts included
    /// (overlaps and bridges need them).
    pub fn load(store: &Store) -> Result<Self, Error> {
        Self::from_scopes(store.scopes()?)
    }

    /// Loads the scopes of the agents that may join episodes: every agent
    /// but the gap drafts, whose scope is a region proposed for a new agent,
    /// not a claim that anyone is competent there.
    pub fn load_agents(store: &Store) -> Result<Self, Error> {
        let mut scopes = store.scopes()?;
        scopes.retain(|s| !crate::gaps::is_draft(s));
        Self::from_scopes(scopes)
    }

    /// The bureau as if the agents named in `left_out` did not exist (to ask
    /// what retiring them would leave uncovered). Every name must be known.
    pub fn load_without(store: &Store, left_out: &[String]) -> Result<Self, Error> {
        let mut scopes = store.scopes()?;
        for name in left_out {
            if !scopes.iter().any(|s| &s.agent.name == name) {
                return Err(StoreError::UnknownAgent { name: name.clone() }.into());
            }
        }
        scopes.retain(|s| !left_out.contains(&s.agent.name));
        Self::from_scopes(scopes)
    }

    fn from_scopes(scopes: Vec<ScopeRow>) -> Result<Self, Error> {
        let dim = scopes.iter().flat_map(|s| &s.prototypes).map(|p| p.centre.len()).next();
        let mut prototypes = Vec::new();
        for (i, scope) in scopes.iter().enumerate() {
            for p in &scope.prototypes {
                let cap = Cap::try_new(p.centre.clone(), p.radius)?;
                prototypes.push(Prototype { agent: i as u32, cap });
            }
        }
        let index = ScopeIndex::try_new(dim.unwrap_or(0), prototypes)?;
        tracing::debug!(agents = scopes.len(), prototypes = index.len(), "loaded scopes");
        Ok(Bureau { scopes, index })
    }

    /// Number of agents with a non-empty scope.
    pub fn fitted(&self) -> usize {
        self.scopes.iter().filter(|s| !s.prototypes.is_empty()).count()
    }

    /// Who joins the episode on each situation.
    pub fn who(&self, situations: &[Vec<f32>], policy: &Policy) -> Result<Vec<Episode>, Error> {
        if self.index.is_empty() {
            return Ok(situations.iter().map(|_| self.empty_episode(policy)).collect());
        }
        let flat: Vec<f32> = situations.iter().flatten().copied().collect();
        let result = self.index.participants(&flat, policy)?;
        Ok(result
            .into_iter()
            .map(|p| Episode {
                participants: self.named(&p.participants),
                near_misses: self.named(&p.near_misses),
                cover: p.cover,
                under_covered: p.under_covered,
            })
            .collect())
    }

    /// The named episode of one participation.
    pub(crate) fn episode(&self, p: &bureau_index::Participation) -> Episode {
        Episode {
            participants: self.named(&p.participants),
            near_misses: self.named(&p.near_misses),
            cover: p.cover,
            under_covered: p.under_covered,
        }
    }

    fn empty_episode(&self, policy: &Policy) -> Episode {
        Episode {
            participants: vec![],
            near_misses: vec![],
            cover: 0,
            under_covered: policy.min_cover > 0,
        }
    }

    fn named(&self, list: &[Participant]) -> Vec<Member> {
        list.iter()
            .map(|p| Member {
                agent: self.scopes[p.agent as usize].agent.name.clone(),
                depth: p.depth,
                angle: p.angle,
            })
            .collect()
    }
}
