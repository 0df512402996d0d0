//! The demo: a bureau of ten CLINC150 domain agents, fitted on the train
//! rows, calibrated on the validation rows, asked who joins the episode on
//! every test row, including the out-of-scope ones.
//!
//! Data: CLINC150 (Larson et al., EMNLP 2019), CC BY 3.0, in `data/clinc150`.

use crate::encoder::Encoder;
use crate::fit::FitOptions;
use crate::import::{store_evidence, store_texts, EvidenceLine};
use crate::input::{read_jsonl, Row};
use crate::scopes::{fit_agents, Bureau, Episode};
use crate::store::{upsert_agent, Outcome, Source, Store, StoreError};
use crate::{Error, Progress};
use bureau_index::Policy;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Instant;

/// One CLINC150 row.
#[derive(Debug, Clone, Deserialize)]
struct Clinc {
    text: String,
    domain: String,
    oos: bool,
}

/// Per-agent results of the demo.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AgentResult {
    /// Agent (domain) name.
    pub agent: String,
    /// Prototypes fitted.
    pub k: usize,
    /// Radius scale chosen by calibration.
    pub lambda: Option<f64>,
    /// Share of the domain's test rows inside the scope.
    pub coverage: f64,
    /// Share of other domains' in-scope test rows inside the scope.
    pub foreign_inclusion: f64,
    /// Share of out-of-scope test rows inside the scope.
    pub oos_inclusion: f64,
}

/// The demo's report; `bureau demo --json` prints it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DemoReport {
    /// Miscoverage level used.
    pub alpha: f64,
    /// Encoder model.
    pub model_id: String,
    /// In-scope and out-of-scope test rows.
    pub test_rows: usize,
    /// Out-of-scope test rows.
    pub oos_rows: usize,
    /// Mean over agents of their own-domain coverage.
    pub coverage: f64,
    /// Share of out-of-scope test rows that any agent includes.
    pub oos_false_inclusion: f64,
    /// Share of in-scope test rows with no participant.
    pub in_scope_uncovered: f64,
    /// Mean number of participants per in-scope test episode.
    pub mean_participants: f64,
    /// Per agent.
    pub agents: Vec<AgentResult>,
    /// Seconds spent in each stage.
    pub seconds: BTreeMap<String, f64>,
}

/// Marks a store built by the demo, so a rerun may reuse its embeddings.
const MARK: &str = "demo:clinc150";

/// Runs the demo on the CLINC150 files in `data_dir`, in the store at `db`.
///
/// A store left by an earlier demo run is reused (its embeddings and
/// evidence are kept, scopes are refitted); any other existing file is
/// refused, so the demo never writes into a user's store.
pub fn run(
    data_dir: &Path,
    db: &Path,
    encoder: &mut Encoder,
    options: &FitOptions,
    progress: Progress,
) -> Result<DemoReport, Error> {
    let mut seconds = BTreeMap::new();
    let mut clock = Instant::now();
    let mut lap = |name: &str, seconds: &mut BTreeMap<String, f64>| {
        seconds.insert(name.to_owned(), clock.elapsed().as_secs_f64());
        clock = Instant::now();
    };
    let read = |split: &str| read_jsonl::<Clinc>(&data_dir.join(format!("{split}.jsonl")));
    let (train, val, test) = (read("train")?, read("val")?, read("test")?);
    let mut store = open_demo_store(db)?;
    if !is_imported(&store)? {
        import(&mut store, encoder, &train, &val, progress)?;
    }
    lap("import", &mut seconds);
    fit_agents(&mut store, None, options, progress)?;
    lap("fit", &mut seconds);
    let texts: Vec<&str> = test.iter().map(|r| r.value.text.as_str()).collect();
    store_texts(&mut store, encoder, &texts, progress)?;
    let vectors = crate::embed::embed_cached(&store, encoder, &texts, progress)?;
    lap("embed_test", &mut seconds);
    let bureau = Bureau::load_agents(&store)?;
    let episodes = bureau.who(&vectors, &Policy::default())?;
    lap("participants", &mut seconds);
    Ok(report(&bureau, &test, &episodes, options.alpha, encoder.model_id(), seconds))
}

fn open_demo_store(db: &Path) -> Result<Store, Error> {
    let existed = db.exists();
    let store = Store::open(db, true)?;
    if existed && !is_demo(&store)? {
        return Err(StoreError::NotDemo { path: db.to_owned() }.into());
    }
    Ok(store)
}

fn mark(store: &Store, key: &str) -> Result<bool, Error> {
    Ok(store.meta(key)?.is_some())
}

fn is_demo(store: &Store) -> Result<bool, Error> {
    Ok(mark(store, MARK)? || store.revision()? == 0)
}

fn is_imported(store: &Store) -> Result<bool, Error> {
    Ok(store.meta(MARK)?.as_deref() == Some("imported"))
}

/// Declares one agent per domain and stores train rows as `train` evidence
/// and validation rows as `eval` evidence, all `ok`.
fn import(
    store: &mut Store,
    encoder: &mut Encoder,
    train: &[Row<Clinc>],
    val: &[Row<Clinc>],
    progress: Progress,
) -> Result<(), Error> {
    let mut intents: BTreeMap<&str, usize> = BTreeMap::new();
    for r in train.iter().filter(|r| !r.value.oos) {
        *intents.entry(r.value.domain.as_str()).or_default() += 1;
    }
    let path = store.path().to_owned();
    let agents: HashMap<String, i64> = store.write(|tx| {
        tx.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, 'started')", [MARK])
            .map_err(|source| StoreError::Sqlite { path: path.clone(), source })?;
        intents
            .keys()
            .map(|d| {
                let mission = format!("handles requests of the CLINC150 domain {d}");
                upsert_agent(tx, d, &mission)
                    .map(|id| ((*d).to_owned(), id))
                    .map_err(|source| StoreError::Sqlite { path: path.clone(), source })
            })
            .collect()
    })?;
    let lines: Vec<EvidenceLine> = [(train, Source::Train), (val, Source::Eval)]
        .into_iter()
        .flat_map(|(rows, source)| {
            rows.iter().filter(|r| !r.value.oos).map(move |r| EvidenceLine {
                text: r.value.text.clone(),
                agent: r.value.domain.clone(),
                outcome: Outcome::Ok,
                source,
            })
        })
        .collect();
    store_evidence(store, encoder, &lines, &agents, progress)?;
    store.set_meta(MARK, "imported")?;
    Ok(())
}

fn report(
    bureau: &Bureau,
    test: &[Row<Clinc>],
    episodes: &[Episode],
    alpha: f64,
    model_id: &str,
    seconds: BTreeMap<String, f64>,
) -> DemoReport {
    let holds = |e: &Episode, agent: &str| e.participants.iter().any(|m| m.agent == agent);
    let share = |rows: &mut dyn Iterator<Item = bool>| {
        let (hit, n) = rows.fold((0usize, 0usize), |(h, n), b| (h + b as usize, n + 1));
        if n == 0 {
            0.0
        } else {
            hit as f64 / n as f64
        }
    };
    let pairs: Vec<(&Clinc, &Episode)> = test.iter().map(|r| &r.value).zip(episodes).collect();
    let agents: Vec<AgentResult> = bureau
        .scopes
        .iter()
        .map(|s| {
            let name = s.agent.name.as_str();
            let fit = s.fit.as_ref();
            let of = |own: bool| {
                share(
                    &mut pairs
                        .iter()
                        .filter(|(r, _)| !r.oos && (r.domain == name) == own)
                        .map(|(_, e)| holds(e, name)),
                )
            };
            AgentResult {
                agent: name.to_owned(),
                k: fit.map_or(0, |f| f.k),
                lambda: fit.and_then(|f| f.lambda),
                coverage: of(true),
                foreign_inclusion: of(false),
                oos_inclusion: share(
                    &mut pairs.iter().filter(|(r, _)| r.oos).map(|(_, e)| holds(e, name)),
                ),
            }
        })
        .collect();
    let in_scope = || pairs.iter().filter(|(r, _)| !r.oos);
    let n_in = in_scope().count().max(1) as f64;
    DemoReport {
        alpha,
        model_id: model_id.to_owned(),
        test_rows: test.len(),
        oos_rows: pairs.iter().filter(|(r, _)| r.oos).count(),
        coverage: agents.iter().map(|a| a.coverage).sum::<f64>() / agents.len().max(1) as f64,
        oos_false_inclusion: share(
            &mut pairs.iter().filter(|(r, _)| r.oos).map(|(_, e)| e.cover > 0),
        ),
        in_scope_uncovered: share(&mut in_scope().map(|(_, e)| e.cover == 0)),
        mean_participants: in_scope().map(|(_, e)| e.participants.len()).sum::<usize>() as f64
            / n_in,
        agents,
        seconds,
    }
}
