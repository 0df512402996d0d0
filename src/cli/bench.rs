//! `bureau bench membership`: recall and speed of the hnsw engine against
//! the exact one on a seeded synthetic bureau (see benches/README.md).

use anyhow::Result;
use bureau_index::synthetic::{clustered, Spec};
use bureau_index::{EngineChoice, Hit, HnswParams, Layout, ScopeIndex};
use serde::Serialize;
use std::time::Instant;

/// Which layouts to measure.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum LayoutArg {
    /// The lifted inner-product graph.
    Lifted,
    /// Radius bands.
    Bands,
    /// Both, one after the other.
    Both,
}

/// Options of `bench membership`.
#[derive(Debug, clap::Args)]
pub struct MembershipArgs {
    /// Number of prototypes.
    #[arg(long, default_value_t = 10_000, value_parser = super::parse::at_least_one)]
    pub prototypes: usize,
    /// Number of situations queried.
    #[arg(long, default_value_t = 200, value_parser = super::parse::at_least_one)]
    pub queries: usize,
    /// Seed of the synthetic bureau.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Layouts to measure.
    #[arg(long, value_enum, default_value_t = LayoutArg::Both)]
    pub layout: LayoutArg,
    /// Number of radius bands.
    #[arg(long, default_value_t = 4, value_parser = super::parse::at_least_one)]
    pub bands: usize,
    /// hnsw search widths, comma-separated: each is measured on the same
    /// graphs.
    #[arg(long, value_delimiter = ',', default_values_t = [HnswParams::default().ef_search])]
    pub ef_search: Vec<usize>,
    /// First k of the widening search.
    #[arg(long, default_value_t = HnswParams::default().k_start)]
    pub k_start: usize,
    /// Prototypes wider than this (radians) are scanned, not put in graphs.
    #[arg(long, default_value_t = HnswParams::default().scan_above)]
    pub scan_above: f32,
    /// hnsw build width.
    #[arg(long, default_value_t = HnswParams::default().ef_construction)]
    pub ef_construction: usize,
    /// hnsw neighbours per node.
    #[arg(long, default_value_t = HnswParams::default().max_connections)]
    pub max_connections: usize,
}

/// Speed of the exact engine.
#[derive(Debug, Serialize)]
struct ExactReport {
    single_qps: f64,
    batch_qps: f64,
}

/// Build cost of one hnsw layout, and recall and speed per search width.
#[derive(Debug, Serialize)]
struct LayoutReport {
    layout: Layout,
    build_seconds: f64,
    bytes_per_prototype: f64,
    searches: Vec<SearchReport>,
}

/// Recall and speed of one search width on one layout's graphs.
#[derive(Debug, Serialize)]
struct SearchReport {
    ef_search: usize,
    k_start: usize,
    single_qps: f64,
    batch_qps: f64,
    speedup_single: f64,
    recall: f64,
    complete_share: f64,
}

/// The JSON `bench membership --json` prints.
#[derive(Debug, Serialize)]
struct Report {
    prototypes: usize,
    queries: usize,
    seed: u64,
    dim: usize,
    mean_members: f64,
    params: HnswParams,
    exact: ExactReport,
    layouts: Vec<LayoutReport>,
}

/// Resident memory of this process in bytes (Linux `/proc/self/statm`), or
/// 0 where it cannot be read.
fn resident_bytes() -> u64 {
    let text = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = text.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    pages * 4096
}

/// Situations per second when each is asked alone.
fn single_qps(index: &ScopeIndex, flat: &[f32], choice: EngineChoice) -> Result<f64> {
    let start = Instant::now();
    let mut n = 0;
    for q in flat.chunks(index.dim()) {
        index.membership_by(q, choice)?;
        n += 1;
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

/// Share of true members found, and of situations whose set is complete.
fn recall(truth: &[Vec<Hit>], got: &[Vec<Hit>]) -> (f64, f64) {
    let (mut found, mut total, mut complete) = (0usize, 0usize, 0usize);
    for (t, g) in truth.iter().zip(got) {
        let hit = t.iter().filter(|h| g.iter().any(|x| x.prototype == h.prototype)).count();
        found += hit;
        total += t.len();
        complete += usize::from(hit == t.len());
    }
    (found as f64 / total.max(1) as f64, complete as f64 / truth.len().max(1) as f64)
}

fn measure_layout(
    index: &mut ScopeIndex,
    params: &HnswParams,
    args: &MembershipArgs,
    (flat, truth): (&[f32], &[Vec<Hit>]),
    exact_qps: f64,
) -> Result<LayoutReport> {
    let before = resident_bytes();
    let start = Instant::now();
    index.build_graphs(params);
    let build_seconds = start.elapsed().as_secs_f64();
    let bytes = resident_bytes().saturating_sub(before) as f64 / index.len().max(1) as f64;
    let mut searches = Vec::new();
    for &ef_search in &args.ef_search {
        anyhow::ensure!(index.set_search(ef_search, args.k_start), "graphs are held");
        let start = Instant::now();
        let got = index.membership_by(flat, EngineChoice::Hnsw)?;
        let batch_qps = truth.len() as f64 / start.elapsed().as_secs_f64();
        let single = single_qps(index, flat, EngineChoice::Hnsw)?;
        let (recall, complete_share) = recall(truth, &got.rows);
        searches.push(SearchReport {
            ef_search,
            k_start: args.k_start,
            single_qps: single,
            batch_qps,
            speedup_single: single / exact_qps,
            recall,
            complete_share,
        });
    }
    Ok(LayoutReport { layout: params.layout, build_seconds, bytes_per_prototype: bytes, searches })
}

/// Runs the benchmark and prints its report.
pub fn membership(json: bool, args: &MembershipArgs) -> Result<bool> {
    let spec = Spec::new(args.prototypes, args.queries, args.seed);
    let data = clustered(&spec);
    let mut index = ScopeIndex::try_new(spec.dim, data.prototypes)?;
    let flat = data.situations;

    let start = Instant::now();
    let truth = index.membership(&flat)?;
    let batch_qps = args.queries as f64 / start.elapsed().as_secs_f64();
    let exact =
        ExactReport { single_qps: single_qps(&index, &flat, EngineChoice::Exact)?, batch_qps };
    let members = truth.iter().map(Vec::len).sum::<usize>() as f64 / args.queries.max(1) as f64;

    let layouts: Vec<Layout> = match args.layout {
        LayoutArg::Lifted => vec![Layout::Lifted],
        LayoutArg::Bands => vec![Layout::Bands { count: args.bands }],
        LayoutArg::Both => vec![Layout::Bands { count: args.bands }, Layout::Lifted],
    };
    anyhow::ensure!(!args.ef_search.is_empty(), "--ef-search needs at least one width");
    let base = HnswParams {
        ef_construction: args.ef_construction,
        max_connections: args.max_connections,
        scan_above: args.scan_above,
        ..HnswParams::default()
    };
    let mut reports = Vec::new();
    for layout in layouts {
        let params = HnswParams { layout, ..base.clone() };
        let data = (flat.as_slice(), truth.as_slice());
        reports.push(measure_layout(&mut index, &params, args, data, exact.single_qps)?);
    }
    let report = Report {
        prototypes: args.prototypes,
        queries: args.queries,
        seed: args.seed,
        dim: spec.dim,
        mean_members: members,
        params: base,
        exact,
        layouts: reports,
    };
    render(json, &report)
}

fn render(json: bool, r: &Report) -> Result<bool> {
    if json {
        out!("{}", serde_json::to_string_pretty(r)?);
        return Ok(true);
    }
    out!(
        "{} prototypes, {} situations (d = {}, seed {}), {:.1} members each",
        r.prototypes,
        r.queries,
        r.dim,
        r.seed,
        r.mean_members
    );
    out!("exact: {:.0} q/s single, {:.0} q/s batch", r.exact.single_qps, r.exact.batch_qps);
    for l in &r.layouts {
        out!(
            "{:?}: build {:.1}s, {:.0} B/prototype",
            l.layout,
            l.build_seconds,
            l.bytes_per_prototype
        );
        for x in &l.searches {
            out!(
                "  ef {} k {}: recall {:.4} (complete {:.3}), {:.0} q/s single ({:.1}x exact), \
                 {:.0} q/s batch",
                x.ef_search,
                x.k_start,
                x.recall,
                x.complete_share,
                x.single_qps,
                x.speedup_single,
                x.batch_qps
            );
        }
    }
    Ok(true)
}

/// What `bench` measures.
#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// Recall and speed of the hnsw membership engine against the exact one,
    /// on a seeded synthetic bureau (d = 384, clustered, heavy-tailed radii).
    Membership(MembershipArgs),
}

/// Runs one benchmark.
pub fn run(json: bool, command: &BenchCommand) -> Result<bool> {
    match command {
        BenchCommand::Membership(args) => membership(json, args),
    }
}
