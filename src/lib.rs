//! bureau: a scope engine for populations of specialised AI agents.
//!
//! An agent is trusted only inside its *scope*, a union of spherical caps
//! (prototypes) in the embedding space of situations. bureau learns the
//! scopes from evidence and answers who joins the episode on a situation.
//! Data flows one way:
//!
//! 1. [`encoder`] turns texts into unit vectors (ONNX sentence encoder);
//! 2. [`store`] keeps situations, agents, evidence and fits in SQLite,
//!    embeddings cached by (text hash, model id);
//! 3. [`fit`] fits each agent's prototypes and calibrates their radii;
//! 4. [`bureau_index`] holds every prototype and answers membership;
//! 5. [`scopes::Bureau`] names the participants of each episode.
//!
//! The `bureau` binary is a thin layer over these functions.
//!
//! ```no_run
//! use bureau::{encoder::{Encoder, EncoderConfig}, scopes::Bureau, store::Store};
//! # fn main() -> Result<(), bureau::Error> {
//! let store = Store::open("bureau.db".as_ref(), false)?;
//! let mut encoder = Encoder::try_new(&EncoderConfig::from_env())?;
//! let x = bureau::embed::embed_cached(&store, &mut encoder, &["book a flight"], &|_, _, _| {})?;
//! let episodes = Bureau::load_agents(&store)?.who(&x, &Default::default())?;
//! println!("{} agents join", episodes[0].participants.len());
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod audit;
pub mod bridges;
pub mod demo;
pub mod embed;
pub mod encoder;
pub mod episodes;
pub mod fit;
pub mod gaps;
pub mod graphs;
pub mod import;
pub mod input;
pub mod overlaps;
pub mod scopes;
pub mod stats;
pub mod store;

pub use bureau_index;

/// Reports progress of long work: `(stage, done, total)`. Called from
/// worker threads, so it must be `Sync`.
pub type Progress<'a> = &'a (dyn Fn(&str, usize, usize) + Sync);

/// Every error bureau's operations return.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input file or line.
    #[error(transparent)]
    Input(#[from] input::InputError),
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// The encoder could not load or run.
    #[error(transparent)]
    Encoder(#[from] encoder::EncoderError),
    /// The index refused its input.
    #[error(transparent)]
    Index(#[from] bureau_index::IndexError),
    /// A risk-mode fit or audit was given an invalid level or grid.
    #[error(transparent)]
    Risk(#[from] fit::risk::RiskError),
    /// Bridges could not be chosen for the agent asked.
    #[error(transparent)]
    Bridge(#[from] bridges::BridgeError),
}
