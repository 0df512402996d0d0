//! Dispatch: one library call per subcommand, then rendering.

/// `println!` that ends the process quietly (exit 0) when the reader of
/// stdout has gone, as in `bureau who --input F | head`, where `println!`
/// would panic.
macro_rules! out {
    () => { out!("") };
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout(), $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
            tracing::error!("cannot write to stdout: {e}");
            std::process::exit(2);
        }
    }};
}

pub mod args;
mod audit;
mod bench;
mod growth;
mod overlaps;
mod parse;
mod render;

use anyhow::{bail, Context, Result};
use args::{Cli, Command, DemoArgs, FitArgs, Global, ImportKind, WhoArgs};
use bureau::encoder::{Encoder, EncoderConfig};
use bureau::input::{check_text, read_jsonl};
use bureau::scopes::{fit_agents, Bureau};
use bureau::store::Store;
use bureau_index::Policy;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::Path;

/// Installs the logger: warnings by default, more with -v.
pub fn logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("BUREAU_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

/// Runs one subcommand; `Ok(false)` means it ran but found nothing.
pub fn run(cli: Cli) -> Result<bool> {
    let g = &cli.global;
    match cli.command {
        Command::Init => init(g),
        Command::Embed { input } => embed(g, &input),
        Command::Import { kind, file } => import(g, kind, &file),
        Command::Agents => agents(g),
        Command::Fit(args) => fit(g, &args),
        Command::Audit(args) => audit::run(g, &args),
        Command::Who(args) => who(g, &args),
        Command::Demo(args) => demo(g, &args),
        Command::Gaps(args) => growth::gaps(g, &args),
        Command::Bridges(args) => growth::bridge(g, &args),
        Command::Episode(args) => growth::episode(g, &args),
        Command::Overlaps(args) => overlaps::run(g, &args),
        Command::Bench(command) => bench::run(g.json, &command),
    }
}

fn encoder(g: &Global) -> Result<Encoder> {
    let mut config = EncoderConfig::from_env();
    if let Some(dir) = &g.model_dir {
        config.model_dir = dir.clone();
    }
    if let Some(lib) = &g.ort_lib {
        config.runtime_lib = lib.clone();
    }
    Encoder::try_new(&config).context("cannot start the encoder (did scripts/setup.sh run?)")
}

/// A progress bar on stderr, drawn only on a terminal and never with --json.
fn bar(g: &Global) -> ProgressBar {
    if g.json || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let style =
        ProgressStyle::with_template("{msg:>12} [{bar:40}] {pos}/{len} {per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
    ProgressBar::new(0).with_style(style)
}

fn tick(bar: &ProgressBar) -> impl Fn(&str, usize, usize) + Sync + '_ {
    move |stage, done, total| {
        bar.set_message(stage.to_owned());
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    }
}

fn open(g: &Global) -> Result<Store> {
    Ok(Store::open(&g.db, false)?)
}

fn init(g: &Global) -> Result<bool> {
    let store = Store::open(&g.db, true)?;
    render::init(g.json, store.path(), store.revision()?)
}

fn embed(g: &Global, input: &Path) -> Result<bool> {
    let texts = read_texts(input)?;
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    let mut encoder = encoder(g)?;
    let bar = bar(g);
    let total = texts.len();
    let vectors = encoder.embed(&texts, &mut |done| tick(&bar)("embedding", done, total))?;
    bar.finish_and_clear();
    render::embeddings(g.json, &texts, &vectors, encoder.model_id())
}

fn import(g: &Global, kind: ImportKind, file: &Path) -> Result<bool> {
    let mut store = open(g)?;
    let bar = bar(g);
    let summary = match kind {
        ImportKind::Agents => bureau::import::import_agents(&mut store, file)?,
        ImportKind::Situations => {
            bureau::import::import_situations(&mut store, &mut encoder(g)?, file, &tick(&bar))?
        }
        ImportKind::Evidence => {
            bureau::import::import_evidence(&mut store, &mut encoder(g)?, file, &tick(&bar))?
        }
    };
    bar.finish_and_clear();
    render::import(g.json, file, &summary)
}

fn agents(g: &Global) -> Result<bool> {
    let store = open(g)?;
    render::agents(g.json, &store.scopes()?)
}

fn fit(g: &Global, args: &FitArgs) -> Result<bool> {
    let options = args.options()?;
    let mut store = open(g)?;
    let bar = bar(g);
    let fits = fit_agents(&mut store, args.agent.as_deref(), &options, &tick(&bar))?;
    bar.finish_and_clear();
    render::fits(g.json, &fits)
}

fn who(g: &Global, args: &WhoArgs) -> Result<bool> {
    let texts: Vec<String> = match (&args.text, &args.input) {
        (Some(text), _) => {
            check_text(Path::new("<argument>"), 1, text)?;
            vec![text.clone()]
        }
        (None, Some(input)) => read_texts(input)?,
        (None, None) => bail!("give a situation's text or --input FILE"),
    };
    let depth = args.min_depth;
    anyhow::ensure!((0.0..=1.0).contains(&depth), "--min-depth must lie in [0, 1], got {depth}");
    let store = open(g)?;
    let mut bureau = Bureau::load_agents(&store)?;
    if bureau.fitted() == 0 {
        tracing::warn!("no agent has a fitted scope yet; run `bureau fit`");
    }
    let source = bureau.prepare_graphs(&store, args.engine.choice(), texts.len())?;
    tracing::debug!(?source, "hnsw graphs");
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let bar = bar(g);
    let vectors = bureau::embed::embed_cached(&store, &mut encoder(g)?, &refs, &tick(&bar))?;
    bar.finish_and_clear();
    let policy = Policy {
        max_participants: args.max,
        min_depth: args.min_depth,
        min_cover: args.min_cover,
        ..Policy::default()
    };
    let (episodes, engine) = bureau.who_by(&vectors, &policy, args.engine.choice())?;
    tracing::debug!(?engine, "who answered");
    render::episodes(g.json, &refs, &episodes)?;
    Ok(episodes.iter().any(|e| !e.participants.is_empty()))
}

/// The checked "text" of every line of a JSONL file.
fn read_texts(input: &Path) -> Result<Vec<String>> {
    let rows = read_jsonl::<bureau::import::SituationLine>(input)?;
    for r in &rows {
        check_text(input, r.line, &r.value.text)?;
    }
    Ok(rows.into_iter().map(|r| r.value.text).collect())
}

fn demo(g: &Global, args: &DemoArgs) -> Result<bool> {
    let mut encoder = encoder(g)?;
    let options = args.options.options()?;
    let bar = bar(g);
    let report = bureau::demo::run(&args.data, &args.demo_db, &mut encoder, &options, &tick(&bar))?;
    bar.finish_and_clear();
    render::demo(g.json, &report)
}
