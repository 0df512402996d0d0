use std::path::PathBuf;
use thiserror::Error;

/// Why the store refused or failed an operation.
#[derive(Debug, Error)]
pub enum StoreError {
    /// No store file at the path and creation was not asked for.
    #[error("no bureau store at {path} (run `bureau init` first)")]
    Missing {
        /// The store file.
        path: PathBuf,
    },
    /// The file is not a readable SQLite database.
    #[error("{path} is not a bureau store or is corrupt")]
    Corrupt {
        /// The store file.
        path: PathBuf,
        /// What SQLite reported.
        #[source]
        source: rusqlite::Error,
    },
    /// A SQLite file that bureau did not create.
    #[error("{path} is not a bureau store (run `bureau init` on a new path)")]
    NotBureau {
        /// The file.
        path: PathBuf,
    },
    /// The store was written by a newer bureau.
    #[error("{path} has schema version {found}; this bureau reads up to {supported}")]
    NewerSchema {
        /// The store file.
        path: PathBuf,
        /// Version found in the file.
        found: i64,
        /// Newest version this build knows.
        supported: i64,
    },
    /// The store holds embeddings of another model.
    #[error("{path} holds embeddings of model {stored}, not {requested}; use a new store")]
    ModelMismatch {
        /// The store file.
        path: PathBuf,
        /// Model already in the store.
        stored: String,
        /// Model of this run.
        requested: String,
    },
    /// The demo refuses to write into a store it did not make.
    #[error("{path} exists and was not made by `bureau demo`; choose another --db")]
    NotDemo {
        /// The store file.
        path: PathBuf,
    },
    /// Saving a gap draft would overwrite an agent that is not a draft.
    #[error("agent {name:?} exists and is not a gap draft; rename it before saving drafts")]
    NameTaken {
        /// The draft's name.
        name: String,
    },
    /// An agent name that is not in the store.
    #[error("unknown agent {name:?}")]
    UnknownAgent {
        /// The name asked for.
        name: String,
    },
    /// A stored record could not be decoded.
    #[error("{path}: fit record {id} is unreadable")]
    Record {
        /// The store file.
        path: PathBuf,
        /// Row id of the fit.
        id: i64,
        /// The decoding error.
        #[source]
        source: serde_json::Error,
    },
    /// Any other SQLite failure.
    #[error("store {path}: database error")]
    Sqlite {
        /// The store file.
        path: PathBuf,
        /// What SQLite reported.
        #[source]
        source: rusqlite::Error,
    },
}

impl StoreError {
    /// A SQLite failure on the store at `path`: [`StoreError::Corrupt`] when
    /// SQLite found the file damaged, else [`StoreError::Sqlite`].
    pub fn sqlite(path: &std::path::Path, source: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode::{DatabaseCorrupt, NotADatabase};
        let path = path.to_owned();
        match source.sqlite_error_code() {
            Some(DatabaseCorrupt | NotADatabase) => StoreError::Corrupt { path, source },
            _ => StoreError::Sqlite { path, source },
        }
    }
}
