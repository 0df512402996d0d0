//! Importing agents, situations and evidence from JSONL files.
//!
//! Each import checks every line first, embeds what is new, then writes all
//! of it in one transaction: a bad line aborts the import with its file, line
//! and problem, and nothing of that import is stored.

use crate::embed::embed_cached;
use crate::encoder::Encoder;
use crate::input::{check_text, read_jsonl, InputError, Row};
use crate::store::{
    claim_model, insert_evidence, upsert_agent, upsert_situation, Outcome, Source, Store,
    StoreError,
};
use crate::{Error, Progress};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

/// An agent line: `{"name": "...", "mission": "..."}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentLine {
    /// Unique agent name.
    pub name: String,
    /// What the agent is for.
    #[serde(default)]
    pub mission: String,
}

/// A situation line: `{"text": "..."}`.
#[derive(Debug, Clone, Deserialize)]
pub struct SituationLine {
    /// The situation's text.
    pub text: String,
}

/// An evidence line: `{"text", "agent", "outcome": "ok"|"fail", "source"}`;
/// source defaults to `train`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvidenceLine {
    /// The situation's text.
    pub text: String,
    /// The agent's name; it must already be in the store.
    pub agent: String,
    /// What the agent did.
    pub outcome: Outcome,
    /// Where the evidence came from.
    #[serde(default = "train")]
    pub source: Source,
}

fn train() -> Source {
    Source::Train
}

/// What an import stored.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportSummary {
    /// Lines read.
    pub lines: usize,
    /// Agents added or updated.
    pub agents: usize,
    /// Distinct situations in the file.
    pub situations: usize,
    /// Evidence rows added.
    pub evidence: usize,
}

/// Imports agents; a name repeated within the file is an error, a name
/// already stored has its mission updated.
pub fn import_agents(store: &mut Store, path: &Path) -> Result<ImportSummary, Error> {
    let rows: Vec<Row<AgentLine>> = read_jsonl(path)?;
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for row in &rows {
        let name = row.value.name.as_str();
        if let Some(problem) = name_problem(name) {
            return Err(invalid(path, row.line, format!("agent name {name:?} {problem}")));
        }
        if let Some(first) = seen.insert(name, row.line) {
            let reason = format!("agent {name:?} is already named on line {first}");
            return Err(invalid(path, row.line, reason));
        }
    }
    let store_path = store.path().to_owned();
    store.write(|tx| {
        for row in &rows {
            upsert_agent(tx, &row.value.name, &row.value.mission)
                .map_err(|source| sqlite(&store_path, source))?;
        }
        Ok(())
    })?;
    Ok(ImportSummary { lines: rows.len(), agents: rows.len(), ..Default::default() })
}

/// What is wrong with an agent name, if anything. Names are matched
/// exactly everywhere, so whitespace at the ends (invisible in tables) and
/// control characters (which break them) are refused rather than fixed.
fn name_problem(name: &str) -> Option<&'static str> {
    if name.trim().is_empty() {
        Some("is empty")
    } else if name.trim() != name {
        Some("has whitespace at an end")
    } else if name.chars().any(char::is_control) {
        Some("contains a control character")
    } else {
        None
    }
}

/// Imports situations (a corpus), embedding those not yet stored.
pub fn import_situations(
    store: &mut Store,
    encoder: &mut Encoder,
    path: &Path,
    progress: Progress,
) -> Result<ImportSummary, Error> {
    let rows: Vec<Row<SituationLine>> = read_jsonl(path)?;
    for row in &rows {
        check_text(path, row.line, &row.value.text)?;
    }
    let texts: Vec<&str> = rows.iter().map(|r| r.value.text.as_str()).collect();
    let ids = store_texts(store, encoder, &texts, progress)?;
    let situations = ids.iter().collect::<std::collections::HashSet<_>>().len();
    Ok(ImportSummary { lines: rows.len(), situations, ..Default::default() })
}

/// Imports evidence; every agent named must already be stored.
pub fn import_evidence(
    store: &mut Store,
    encoder: &mut Encoder,
    path: &Path,
    progress: Progress,
) -> Result<ImportSummary, Error> {
    let rows: Vec<Row<EvidenceLine>> = read_jsonl(path)?;
    let agents: HashMap<String, i64> =
        store.agents()?.into_iter().map(|a| (a.name, a.id)).collect();
    for row in &rows {
        check_text(path, row.line, &row.value.text)?;
        if !agents.contains_key(&row.value.agent) {
            let reason = format!("unknown agent {:?} (import it first)", row.value.agent);
            return Err(invalid(path, row.line, reason));
        }
    }
    let lines: Vec<EvidenceLine> = rows.into_iter().map(|r| r.value).collect();
    store_evidence(store, encoder, &lines, &agents, progress)
}

/// Stores checked evidence lines (agents given by name -> id) in one
/// transaction, embedding the texts the store has not seen.
pub fn store_evidence(
    store: &mut Store,
    encoder: &mut Encoder,
    lines: &[EvidenceLine],
    agents: &HashMap<String, i64>,
    progress: Progress,
) -> Result<ImportSummary, Error> {
    if lines.is_empty() {
        return Ok(ImportSummary::default());
    }
    let texts: Vec<&str> = lines.iter().map(|e| e.text.as_str()).collect();
    let store_path = store.path().to_owned();
    let model_id = encoder.model_id().to_owned();
    let vectors = embed_cached(store, encoder, &texts, progress)?;
    store.write(|tx| {
        claim_model(tx, &store_path, &model_id)?;
        for (e, v) in lines.iter().zip(&vectors) {
            let agent = *agents
                .get(&e.agent)
                .ok_or_else(|| StoreError::UnknownAgent { name: e.agent.clone() })?;
            let write = upsert_situation(tx, &e.text, &model_id, v)
                .and_then(|situation| insert_evidence(tx, situation, agent, e.outcome, e.source));
            write.map_err(|source| sqlite(&store_path, source))?;
        }
        Ok(())
    })?;
    let situations = texts.iter().collect::<std::collections::HashSet<_>>().len();
    Ok(ImportSummary {
        lines: lines.len(),
        situations,
        evidence: lines.len(),
        ..Default::default()
    })
}

/// Embeds texts through the cache and stores them as situations in one
/// transaction; returns their ids in order.
pub fn store_texts(
    store: &mut Store,
    encoder: &mut Encoder,
    texts: &[&str],
    progress: Progress,
) -> Result<Vec<i64>, Error> {
    if texts.is_empty() {
        return Ok(vec![]);
    }
    let vectors = embed_cached(store, encoder, texts, progress)?;
    let store_path = store.path().to_owned();
    let model_id = encoder.model_id().to_owned();
    Ok(store.write(|tx| {
        claim_model(tx, &store_path, &model_id)?;
        texts
            .iter()
            .zip(&vectors)
            .map(|(t, v)| {
                upsert_situation(tx, t, &model_id, v).map_err(|source| sqlite(&store_path, source))
            })
            .collect::<Result<Vec<i64>, _>>()
    })?)
}

fn invalid(path: &Path, line: usize, reason: String) -> Error {
    InputError::Invalid { path: path.to_owned(), line, reason }.into()
}

fn sqlite(path: &Path, source: rusqlite::Error) -> crate::store::StoreError {
    crate::store::StoreError::Sqlite { path: path.to_owned(), source }
}
