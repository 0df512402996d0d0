//! Audit's counting core on synthetic evidence: 10^7 rows over 1,000 agents
//! of 8 prototypes each, in 384 dimensions (the encoder's), seeded. No
//! encoder: rows draw their embedding from a pool of random unit vectors.
//! Run with `cargo bench --bench audit`; `BENCH_ROWS` and `BENCH_BLOCK`
//! override the rows (10^7) and the block size (audit's chunk, 4096).

use bureau::audit::tally::{AuditRow, Counter};
use bureau::audit::CHUNK;
use bureau::fit::risk::{default_grid, RiskConfig};
use bureau::store::StoredPrototype;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use std::time::{Duration, Instant};

const ROWS: usize = 10_000_000;
const AGENTS: usize = 1_000;
const PROTOTYPES: usize = 8;
const DIM: usize = 384;
const POOL: usize = 16_384;
const FAIL_RATE: f64 = 0.2;

fn unit(rng: &mut impl Rng) -> Vec<f32> {
    // The sum of four uniforms is close enough to normal for direction.
    let mut v: Vec<f32> =
        (0..DIM).map(|_| (0..4).map(|_| rng.gen::<f32>() - 0.5).sum::<f32>()).collect();
    let norm = v.iter().map(|a| a * a).sum::<f32>().sqrt();
    v.iter_mut().for_each(|a| *a /= norm);
    v
}

/// Random caps whose radii straddle the typical angle between random
/// vectors in 384 dimensions (near pi / 2), so some rows fall inside.
fn scopes(rng: &mut impl Rng) -> Vec<Vec<StoredPrototype>> {
    (0..AGENTS)
        .map(|_| {
            (0..PROTOTYPES)
                .map(|_| {
                    let spread = rng.gen_range(0.5..0.8);
                    StoredPrototype { centre: unit(rng), spread, radius: 2.0 * spread }
                })
                .collect()
        })
        .collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let var = |name: &str| std::env::var(name).ok().and_then(|v| v.parse().ok());
    let rows: usize = var("BENCH_ROWS").unwrap_or(ROWS);
    let block: usize = var("BENCH_BLOCK").unwrap_or(CHUNK);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(2026);
    let mut counter = Counter::try_new(&scopes(&mut rng), default_grid())?;
    let pool: Vec<Vec<f32>> = (0..POOL).map(|_| unit(&mut rng)).collect();
    let mut spent = Duration::ZERO;
    for start in (0..rows).step_by(block) {
        let batch: Vec<AuditRow> = (start..(start + block).min(rows))
            .map(|i| AuditRow {
                agent: rng.gen_range(0..AGENTS as u32),
                failed: rng.gen_bool(FAIL_RATE),
                embedding: &pool[rng.gen_range(0..POOL)],
                line: i + 1,
                text: "",
            })
            .collect();
        let clock = Instant::now();
        counter.add_block(&batch)?;
        spent += clock.elapsed();
    }
    let clock = Instant::now();
    let config = RiskConfig::new(0.2, 0.05);
    let accepted = (0..AGENTS).filter_map(|a| counter.accepted(a, &config).ok()?.lambda).count();
    let report = clock.elapsed();
    let inside: u64 = counter.tallies().iter().map(|t| t.inside_ok + t.inside_fail).sum();
    let secs = spent.as_secs_f64();
    println!(
        "counted {rows} rows over {AGENTS} agents x {PROTOTYPES} prototypes (dim {DIM}, block \
         {block}) in {secs:.2} s: {:.0} rows/s; {inside} rows inside; accepted scales for \
         {accepted} agents in {:.3} s",
        rows as f64 / secs,
        report.as_secs_f64()
    );
    Ok(())
}
