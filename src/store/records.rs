//! The records the store holds and the queries that read and write them.

use super::{Store, StoreError};
use rusqlite::{params, OptionalExtension, Transaction};
use serde::{Deserialize, Serialize};

/// An agent: a name, a mission, and (once fitted) a scope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Agent {
    /// Row id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// What the agent is for, in words.
    pub mission: String,
}

/// Whether an agent acted per its intent on a situation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The agent acted per its intent.
    Ok,
    /// It did not.
    Fail,
}

/// Where a piece of evidence came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The agent's training situations.
    Train,
    /// Held-out evaluation.
    Eval,
    /// Outcomes reported for an episode.
    Episode,
}

impl Outcome {
    /// The word stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Fail => "fail",
        }
    }
}

impl Source {
    /// The word stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Train => "train",
            Source::Eval => "eval",
            Source::Episode => "episode",
        }
    }
}

/// One piece of evidence with its situation's embedding.
#[derive(Debug, Clone)]
pub struct EvidenceRow {
    /// The situation's row id.
    pub situation_id: i64,
    /// The outcome.
    pub outcome: Outcome,
    /// Where it came from.
    pub source: Source,
    /// The situation's embedding.
    pub embedding: Vec<f32>,
}

/// How a scope was fitted, stored as JSON beside its prototypes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitRecord {
    /// `coverage` (split conformal) or `risk` (Learn-then-Test).
    pub method: String,
    /// Miscoverage level of coverage mode.
    pub alpha: Option<f64>,
    /// Risk level of risk mode.
    pub epsilon: Option<f64>,
    /// Confidence parameter of risk mode.
    pub delta: Option<f64>,
    /// Situations the prototypes were fitted on.
    pub n_fit: usize,
    /// Situations used for calibration.
    pub n_calibration: usize,
    /// Number of prototypes.
    pub k: usize,
    /// The radius scale chosen; `None` for an empty scope.
    pub lambda: Option<f64>,
    /// The risk bound reached, in risk mode.
    pub bound: Option<f64>,
    /// Why the scope is empty, when it is.
    pub reason: Option<String>,
    /// Encoder model of the embeddings.
    pub model_id: String,
    /// Seed of the k-means and split.
    pub seed: u64,
    /// The ks tried and the share of outside evidence each would claim;
    /// empty when k came from the size rule alone.
    #[serde(default)]
    pub k_candidates: Vec<crate::fit::select::Candidate>,
}

impl FitRecord {
    /// A record of `method` before any fitting: no level, no counts, no
    /// scale; each mode fills in what it has.
    pub fn new(method: &str, model_id: &str, seed: u64) -> Self {
        FitRecord {
            method: method.to_owned(),
            alpha: None,
            epsilon: None,
            delta: None,
            n_fit: 0,
            n_calibration: 0,
            k: 0,
            lambda: None,
            bound: None,
            reason: None,
            model_id: model_id.to_owned(),
            seed,
            k_candidates: vec![],
        }
    }
}

/// A prototype as stored: centre, base spread and radius.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPrototype {
    /// Unit centre.
    pub centre: Vec<f32>,
    /// Base spread s: a high quantile of its members' angles.
    pub spread: f32,
    /// Radius lambda * s.
    pub radius: f32,
}

/// An agent with its active fit and prototypes.
#[derive(Debug, Clone)]
pub struct ScopeRow {
    /// The agent.
    pub agent: Agent,
    /// Its active fit, if fitted.
    pub fit: Option<FitRecord>,
    /// The fit's prototypes (empty for an empty scope).
    pub prototypes: Vec<StoredPrototype>,
}

pub(crate) fn vec_to_blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|a| a.to_le_bytes()).collect()
}

pub(crate) fn blob_to_vec(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

fn parse_enum<T: for<'de> Deserialize<'de>>(word: String) -> rusqlite::Result<T> {
    serde_json::from_value(serde_json::Value::String(word)).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, e.into())
    })
}

impl Store {
    /// The agent with this name.
    pub fn agent(&self, name: &str) -> Result<Agent, StoreError> {
        self.conn()
            .query_row("SELECT id, name, mission FROM agents WHERE name = ?1", [name], |r| {
                Ok(Agent { id: r.get(0)?, name: r.get(1)?, mission: r.get(2)? })
            })
            .optional()
            .map_err(self.err())?
            .ok_or_else(|| StoreError::UnknownAgent { name: name.to_owned() })
    }

    /// Every piece of an agent's evidence with its embedding, in insertion
    /// order.
    pub fn evidence(&self, agent_id: i64) -> Result<Vec<EvidenceRow>, StoreError> {
        let mut stmt = self
            .conn()
            .prepare(
                "SELECT e.situation_id, e.outcome, e.source, s.embedding
                 FROM evidence e JOIN situations s ON s.id = e.situation_id
                 WHERE e.agent_id = ?1 ORDER BY e.id",
            )
            .map_err(self.err())?;
        let rows = stmt
            .query_map([agent_id], |r| {
                Ok(EvidenceRow {
                    situation_id: r.get(0)?,
                    outcome: parse_enum(r.get(1)?)?,
                    source: parse_enum(r.get(2)?)?,
                    embedding: blob_to_vec(&r.get::<_, Vec<u8>>(3)?),
                })
            })
            .map_err(self.err())?;
        rows.collect::<Result<_, _>>().map_err(self.err())
    }

    /// Every agent with its active fit and prototypes.
    pub fn scopes(&self) -> Result<Vec<ScopeRow>, StoreError> {
        self.agents()?.into_iter().map(|agent| self.scope(agent)).collect()
    }

    fn scope(&self, agent: Agent) -> Result<ScopeRow, StoreError> {
        let fit: Option<(i64, String)> = self
            .conn()
            .query_row(
                "SELECT id, record FROM fits WHERE agent_id = ?1 AND active = 1",
                [agent.id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(self.err())?;
        let Some((fit_id, record)) = fit else {
            return Ok(ScopeRow { agent, fit: None, prototypes: vec![] });
        };
        let record = serde_json::from_str(&record).map_err(|source| StoreError::Record {
            path: self.path().to_owned(),
            id: fit_id,
            source,
        })?;
        let mut stmt = self
            .conn()
            .prepare("SELECT centre, spread, radius FROM prototypes WHERE fit_id = ?1 ORDER BY id")
            .map_err(self.err())?;
        let prototypes = stmt
            .query_map([fit_id], |r| {
                Ok(StoredPrototype {
                    centre: blob_to_vec(&r.get::<_, Vec<u8>>(0)?),
                    spread: r.get(1)?,
                    radius: r.get(2)?,
                })
            })
            .map_err(self.err())?
            .collect::<Result<_, _>>()
            .map_err(self.err())?;
        Ok(ScopeRow { agent, fit: Some(record), prototypes })
    }
}

/// Adds an agent, or updates the mission of an existing one; returns its id.
pub fn upsert_agent(tx: &Transaction, name: &str, mission: &str) -> rusqlite::Result<i64> {
    tx.execute(
        "INSERT INTO agents (name, mission) VALUES (?1, ?2)
         ON CONFLICT (name) DO UPDATE SET mission = excluded.mission",
        params![name, mission],
    )?;
    tx.query_row("SELECT id FROM agents WHERE name = ?1", [name], |r| r.get(0))
}

/// Adds one piece of evidence.
pub fn insert_evidence(
    tx: &Transaction,
    situation_id: i64,
    agent_id: i64,
    outcome: Outcome,
    source: Source,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO evidence (situation_id, agent_id, outcome, source) VALUES (?1, ?2, ?3, ?4)",
        params![situation_id, agent_id, outcome.as_str(), source.as_str()],
    )
    .map(drop)
}

/// Stores a fit as the agent's active one, retiring the previous fit.
pub fn replace_fit(
    tx: &Transaction,
    agent_id: i64,
    record: &FitRecord,
    prototypes: &[StoredPrototype],
) -> rusqlite::Result<()> {
    tx.execute("UPDATE fits SET active = 0 WHERE agent_id = ?1", [agent_id])?;
    // Invariant: FitRecord holds only strings, numbers and options.
    let json = serde_json::to_string(record).expect("a fit record serialises");
    tx.execute("INSERT INTO fits (agent_id, record) VALUES (?1, ?2)", params![agent_id, json])?;
    let fit_id = tx.last_insert_rowid();
    for p in prototypes {
        tx.execute(
            "INSERT INTO prototypes (fit_id, centre, spread, radius) VALUES (?1, ?2, ?3, ?4)",
            params![fit_id, vec_to_blob(&p.centre), p.spread, p.radius],
        )?;
    }
    Ok(())
}
