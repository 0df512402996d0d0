//! The scope index: spherical-cap geometry and membership for bureau.
//!
//! A *scope* is a union of *prototypes*, each a spherical cap on the unit
//! sphere: a centre `c` and an angular radius `r`. A situation `x` (a unit
//! vector) lies inside a prototype when `angle(x, c) <= r`. The index holds
//! every agent's prototypes and answers, for a batch of situations, which
//! agents' scopes hold each one and how deeply.
//!
//! Data flows in one direction: the `bureau` crate embeds situations, fits
//! prototypes, and hands both to [`ScopeIndex`]; this crate does no I/O and
//! knows nothing of models or stores.
//!
//! ```
//! use bureau_index::{Cap, Policy, Prototype, ScopeIndex};
//!
//! let north = Cap::try_new(vec![0.0, 0.0, 1.0], 0.5).unwrap();
//! let east = Cap::try_new(vec![1.0, 0.0, 0.0], 0.5).unwrap();
//! let index = ScopeIndex::try_new(3, vec![
//!     Prototype { agent: 0, cap: north },
//!     Prototype { agent: 1, cap: east },
//! ]).unwrap();
//! let situation = [0.0, 0.1f32.sin(), 0.1f32.cos()];
//! let episodes = index.participants(&situation, &Policy::default()).unwrap();
//! assert_eq!(episodes[0].participants.len(), 1);
//! assert_eq!(episodes[0].participants[0].agent, 0);
//! ```
#![deny(missing_docs)]

mod cap;
mod dump;
mod engine;
mod error;
mod exact;
pub mod geometry;
mod hnsw;
mod overlap;
mod participants;
pub mod synthetic;

pub use cap::Cap;
pub use dump::{DumpError, GRAPH_FORMAT};
pub use engine::{prefers_hnsw, Answer, Engine, EngineChoice, CROSSOVER_BATCH, CROSSOVER_SINGLE};
pub use error::IndexError;
pub use exact::{Hit, Prototype, ScopeIndex};
pub use hnsw::{HnswParams, Layout};
pub use overlap::{overlap_groups, Overlap};
pub use participants::{Participant, Participation, Policy};
