//! Episodes: recording who joined the episode on each situation, and taking
//! the outcomes reported later as evidence (`source = episode`), which the
//! next fit trains on.
//!
//! An outcome is accepted for an agent the episode recorded: a participant
//! or a near miss (depth in [-0.25, 0)). Near misses are accepted because an
//! operator who tries the agent just outside its scope produces exactly the
//! evidence a refit needs to widen (or keep) the boundary there; an agent
//! the episode never named is refused, since bureau did not put it on that
//! situation. Each (episode, agent) outcome is taken once.

use crate::encoder::Encoder;
use crate::import::store_texts;
use crate::input::{read_jsonl, InputError, Row};
use crate::scopes::{Bureau, Episode};
use crate::store::{insert_evidence, Outcome, Source, Store, StoreError};
use crate::{Error, Progress};
use bureau_index::Policy;
use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// A recorded episode.
#[derive(Debug, Clone, Serialize)]
pub struct RecordedEpisode {
    /// The episode's id, to report outcomes against.
    pub id: i64,
    /// The situation's row id.
    pub situation_id: i64,
    /// Participants and near misses as recorded.
    pub episode: Episode,
}

/// An outcome line: `{"episode": id, "agent": name, "outcome": "ok"|"fail"}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutcomeLine {
    /// The episode's id.
    pub episode: i64,
    /// The agent's name.
    pub agent: String,
    /// What the agent did.
    pub outcome: Outcome,
}

/// What an outcomes file stored.
#[derive(Debug, Clone, Default, Serialize)]
pub struct OutcomeSummary {
    /// Lines read.
    pub lines: usize,
    /// Evidence rows added (`source = episode`).
    pub evidence: usize,
    /// Of which `ok`.
    pub ok: usize,
    /// Of which `fail`.
    pub fail: usize,
}

/// Records the episode on each text: stores the situations (embedding only
/// new ones), asks the bureau who joins, and stores every episode with its
/// participants and near misses in one transaction.
pub fn record_episodes(
    store: &mut Store,
    encoder: &mut Encoder,
    texts: &[&str],
    progress: Progress,
) -> Result<Vec<RecordedEpisode>, Error> {
    let situation_ids = store_texts(store, encoder, texts, progress)?;
    let vectors = crate::embed::embed_cached(store, encoder, texts, progress)?;
    let bureau = Bureau::load_agents(store)?;
    let episodes = bureau.who(&vectors, &Policy::default())?;
    let agent_ids: HashMap<&str, i64> =
        bureau.scopes.iter().map(|s| (s.agent.name.as_str(), s.agent.id)).collect();
    let path = store.path().to_owned();
    let sql = |source| StoreError::Sqlite { path: path.clone(), source };
    let ids = store.write(|tx| {
        let mut ids = Vec::with_capacity(episodes.len());
        for (situation, episode) in situation_ids.iter().zip(&episodes) {
            tx.execute("INSERT INTO episodes (situation_id) VALUES (?1)", [situation])
                .map_err(sql)?;
            let id = tx.last_insert_rowid();
            for m in episode.participants.iter().chain(&episode.near_misses) {
                // Invariant: every member is named from `bureau.scopes`.
                tx.execute(
                    "INSERT INTO episode_participants (episode_id, agent_id, depth)
                     VALUES (?1, ?2, ?3)",
                    params![id, agent_ids[m.agent.as_str()], m.depth],
                )
                .map_err(sql)?;
            }
            ids.push(id);
        }
        Ok(ids)
    })?;
    Ok(ids
        .into_iter()
        .zip(situation_ids)
        .zip(episodes)
        .map(|((id, situation_id), episode)| RecordedEpisode { id, situation_id, episode })
        .collect())
}

/// A checked outcome, ready to store.
struct Checked {
    episode: i64,
    situation_id: i64,
    agent_id: i64,
    outcome: Outcome,
}

/// Stores the outcomes in `path` as `episode` evidence. Every line is checked
/// first (the episode exists, the agent exists and was recorded in it, its
/// outcome was not reported before, not even earlier in the file); a bad
/// line fails the whole file with its line number and nothing is stored.
pub fn record_outcomes(store: &mut Store, path: &Path) -> Result<OutcomeSummary, Error> {
    let rows: Vec<Row<OutcomeLine>> = read_jsonl(path)?;
    let agents: HashMap<String, i64> =
        store.agents()?.into_iter().map(|a| (a.name, a.id)).collect();
    let mut seen: HashSet<(i64, i64)> = HashSet::new();
    let mut checked = Vec::with_capacity(rows.len());
    for row in &rows {
        let invalid =
            |reason: String| InputError::Invalid { path: path.to_owned(), line: row.line, reason };
        let line = &row.value;
        let Some(&agent_id) = agents.get(&line.agent) else {
            return Err(invalid(format!("unknown agent {:?}", line.agent)).into());
        };
        let Some(situation_id) = episode_situation(store, line.episode)? else {
            return Err(invalid(format!("unknown episode {}", line.episode)).into());
        };
        match recorded(store, line.episode, agent_id)? {
            None => {
                let reason = format!(
                    "agent {:?} was neither a participant nor a near miss of episode {}",
                    line.agent, line.episode
                );
                return Err(invalid(reason).into());
            }
            Some(true) => {
                let reason = format!(
                    "the outcome of {:?} in episode {} is already stored",
                    line.agent, line.episode
                );
                return Err(invalid(reason).into());
            }
            Some(false) => {}
        }
        if !seen.insert((line.episode, agent_id)) {
            let reason = format!(
                "the outcome of {:?} in episode {} is given twice",
                line.agent, line.episode
            );
            return Err(invalid(reason).into());
        }
        checked.push(Checked {
            episode: line.episode,
            situation_id,
            agent_id,
            outcome: line.outcome,
        });
    }
    store_outcomes(store, &checked)?;
    let ok = checked.iter().filter(|c| c.outcome == Outcome::Ok).count();
    Ok(OutcomeSummary { lines: rows.len(), evidence: checked.len(), ok, fail: checked.len() - ok })
}

/// Writes checked outcomes as evidence and links each to its episode row, in
/// one transaction.
fn store_outcomes(store: &mut Store, checked: &[Checked]) -> Result<(), Error> {
    let path = store.path().to_owned();
    let sql = |source| StoreError::Sqlite { path: path.clone(), source };
    store.write(|tx| {
        for c in checked {
            insert_evidence(tx, c.situation_id, c.agent_id, c.outcome, Source::Episode)
                .map_err(sql)?;
            let evidence = tx.last_insert_rowid();
            tx.execute(
                "UPDATE episode_participants SET evidence_id = ?1
                 WHERE episode_id = ?2 AND agent_id = ?3",
                params![evidence, c.episode, c.agent_id],
            )
            .map_err(sql)?;
        }
        Ok(())
    })?;
    Ok(())
}

/// The situation of episode `id`, if it exists.
fn episode_situation(store: &Store, id: i64) -> Result<Option<i64>, StoreError> {
    store
        .conn()
        .query_row("SELECT situation_id FROM episodes WHERE id = ?1", [id], |r| r.get(0))
        .optional()
        .map_err(|source| StoreError::Sqlite { path: store.path().to_owned(), source })
}

/// Whether the agent was recorded in the episode (`None` if not), and if so
/// whether its outcome is already stored.
fn recorded(store: &Store, episode: i64, agent: i64) -> Result<Option<bool>, StoreError> {
    store
        .conn()
        .query_row(
            "SELECT evidence_id IS NOT NULL FROM episode_participants
             WHERE episode_id = ?1 AND agent_id = ?2",
            [episode, agent],
            |r| r.get(0),
        )
        .optional()
        .map_err(|source| StoreError::Sqlite { path: store.path().to_owned(), source })
}
