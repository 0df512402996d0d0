//! Command-line arguments.

use bureau::fit::FitOptions;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// bureau: scopes, episodes and participants for populations of AI agents.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every subcommand takes.
#[derive(Debug, Args)]
pub struct Global {
    /// The store (SQLite file).
    #[arg(long, global = true, env = "BUREAU_DB", default_value = "bureau.db")]
    pub db: PathBuf,
    /// Directory with the encoder's model.onnx and tokenizer.json.
    #[arg(long, global = true, env = "BUREAU_MODEL_DIR")]
    pub model_dir: Option<PathBuf>,
    /// The ONNX Runtime shared library.
    #[arg(long, global = true, env = "BUREAU_ORT_LIB")]
    pub ort_lib: Option<PathBuf>,
    /// Print JSON for machines instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// More logs: -v for debug, -vv for trace.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the store (or migrate an older one).
    Init,
    /// Embed the "text" of each JSONL line; with --json print one line per
    /// input line, {"text", "embedding"}, in input order.
    Embed {
        /// JSONL file, one object with "text" per line ("-" for stdin).
        #[arg(long)]
        input: PathBuf,
    },
    /// Import agents, situations or evidence from a JSONL file.
    Import {
        #[arg(value_enum)]
        kind: ImportKind,
        /// JSONL file ("-" for stdin).
        file: PathBuf,
    },
    /// List agents and their scopes.
    Agents,
    /// Fit scopes (coverage mode: split conformal at level alpha; risk mode
    /// with --epsilon: failure rate inside certified at most epsilon).
    Fit(FitArgs),
    /// Score how conservative the scopes are against fresh evidence.
    Audit(super::audit::AuditArgs),
    /// Who joins the episode on a situation (or on each line of --input).
    Who(WhoArgs),
    /// Run the CLINC150 demo end to end and report coverage and
    /// out-of-scope inclusion.
    Demo(DemoArgs),
    /// Regions of a corpus that fewer than --min-cover scopes reach.
    Gaps(super::growth::GapsArgs),
    /// Situations binding a new agent to old ones, for training it.
    Bridges(super::growth::BridgesArgs),
    /// Record episodes (who joins each situation), or their outcomes.
    Episode(super::growth::EpisodeArgs),
    /// Agent pairs whose scopes overlap, their groups, and agents alone.
    Overlaps(super::overlaps::OverlapsArgs),
    /// Benchmarks of the scope index.
    #[command(subcommand)]
    Bench(super::bench::BenchCommand),
}

/// What `import` reads.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ImportKind {
    /// {"name", "mission"}
    Agents,
    /// {"text"}
    Situations,
    /// {"text", "agent", "outcome": "ok"|"fail", "source": "train"|"eval"|"episode"}
    Evidence,
}

#[derive(Debug, Args)]
pub struct FitArgs {
    /// Fit only this agent.
    #[arg(long)]
    pub agent: Option<String>,
    /// Risk mode: certify that the failure rate inside each scope is at
    /// most this (needs ok and fail evidence; excludes --alpha).
    #[arg(long, conflicts_with = "alpha")]
    pub epsilon: Option<f64>,
    /// Risk mode: the chance the certificate is wrong [default: 0.05].
    #[arg(long, requires = "epsilon")]
    pub delta: Option<f64>,
    #[command(flatten)]
    pub options: FitFlags,
}

impl FitArgs {
    /// The library's options, checked; risk mode when --epsilon is given.
    pub fn options(&self) -> anyhow::Result<FitOptions> {
        let mut options = self.options.options()?;
        if let Some(epsilon) = self.epsilon {
            let delta = self.delta.unwrap_or(0.05);
            for (name, v) in [("epsilon", epsilon), ("delta", delta)] {
                anyhow::ensure!(v > 0.0 && v < 1.0, "--{name} must lie in (0, 1), got {v}");
            }
            options.risk = Some(bureau::fit::RiskLevel { epsilon, delta });
        }
        Ok(options)
    }
}

/// How scopes are fitted (coverage mode).
#[derive(Debug, Args)]
pub struct FitFlags {
    /// Miscoverage level: the scope holds at least 1 - alpha of the agent's
    /// own situations.
    #[arg(long, default_value_t = 0.05)]
    pub alpha: f64,
    /// Most prototypes per agent.
    #[arg(long, default_value_t = FitOptions::default().max_k)]
    pub max_k: usize,
    /// Situations per prototype: k = n / this, within [1, max-k].
    #[arg(long, default_value_t = FitOptions::default().per_prototype)]
    pub per_prototype: usize,
    /// Quantile of member angles giving a prototype's base spread, used only
    /// when no outside evidence can choose it (otherwise 0.5, 0.75, 0.9 and
    /// 0.95 are tried and the fit record says which won).
    #[arg(long, default_value_t = FitOptions::default().spread_quantile)]
    pub spread_quantile: f64,
    /// Seed of k-means and of the calibration split.
    #[arg(long, default_value_t = FitOptions::default().seed)]
    pub seed: u64,
}

impl FitFlags {
    /// The library's options, checked.
    pub fn options(&self) -> anyhow::Result<FitOptions> {
        let unit = |name: &str, v: f64| {
            anyhow::ensure!(v > 0.0 && v < 1.0, "--{name} must lie in (0, 1), got {v}");
            Ok(())
        };
        unit("alpha", self.alpha)?;
        unit("spread-quantile", self.spread_quantile)?;
        anyhow::ensure!(self.max_k > 0, "--max-k must be at least 1");
        anyhow::ensure!(self.per_prototype > 0, "--per-prototype must be at least 1");
        Ok(FitOptions {
            alpha: self.alpha,
            max_k: self.max_k,
            per_prototype: self.per_prototype,
            spread_quantile: self.spread_quantile,
            seed: self.seed,
            ..FitOptions::default()
        })
    }
}

#[derive(Debug, Args)]
pub struct WhoArgs {
    /// The situation's text.
    #[arg(conflicts_with = "input", required_unless_present = "input")]
    pub text: Option<String>,
    /// JSONL file of situations, one {"text"} per line.
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// At most this many participants; agents past it are listed with the
    /// near misses.
    #[arg(long, value_parser = super::parse::at_least_one)]
    pub max: Option<usize>,
    /// Participants must lie at least this deep (0 = on the boundary).
    #[arg(long, default_value_t = 0.0)]
    pub min_depth: f32,
    /// Flag situations held by fewer scopes.
    #[arg(long, default_value_t = 1)]
    pub min_cover: usize,
    /// Membership engine: exact, hnsw (graphs loaded or built beside the
    /// store), or auto (by batch size and prototype count).
    #[arg(long, value_enum, default_value_t = EngineArg::Auto)]
    pub engine: EngineArg,
}

/// The membership engine, as `--engine` names it.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum EngineArg {
    /// Matrix product against every centre.
    Exact,
    /// hnsw candidates verified exactly.
    Hnsw,
    /// The faster for this batch and bureau.
    Auto,
}

impl EngineArg {
    /// The library's choice.
    pub fn choice(self) -> bureau_index::EngineChoice {
        match self {
            EngineArg::Exact => bureau_index::EngineChoice::Exact,
            EngineArg::Hnsw => bureau_index::EngineChoice::Hnsw,
            EngineArg::Auto => bureau_index::EngineChoice::Auto,
        }
    }
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Directory with CLINC150's train/val/test.jsonl.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/data/clinc150"))]
    pub data: PathBuf,
    /// The demo's own store; reused by later runs for its embeddings.
    #[arg(long, default_value = "bureau-demo.db")]
    pub demo_db: PathBuf,
    #[command(flatten)]
    pub options: FitFlags,
}
