//! The store: one SQLite file holding situations with their embeddings,
//! agents, evidence, fits and prototypes.
//!
//! Every write is one transaction, so a bad row or a crash loses nothing
//! already stored. Embeddings are cached by (text hash, model id), and a
//! store holds embeddings of one model only: mixing models is refused.

mod error;
mod records;
mod schema;

pub use error::StoreError;
pub use records::{
    insert_evidence, replace_fit, upsert_agent, Agent, EvidenceRow, FitRecord, Outcome, ScopeRow,
    Source, StoredPrototype,
};
pub use schema::SCHEMA_VERSION;

use rusqlite::{params, Connection, OptionalExtension, Transaction};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A cached situation: its row id and embedding.
pub type Cached = (i64, Vec<f32>);

/// An open bureau store.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// Whether the integrity check has passed since opening.
    checked: bool,
}

/// The sha256 of a text, the key of the embedding cache.
pub fn text_hash(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

impl Store {
    /// Opens the store at `path`, creating it when `create` is set, and
    /// migrates an older schema to the current one.
    pub fn open(path: &Path, create: bool) -> Result<Self, StoreError> {
        if !create && !path.exists() {
            return Err(StoreError::Missing { path: path.to_owned() });
        }
        let sql = |source| StoreError::sqlite(path, source);
        let conn = Connection::open(path).map_err(sql)?;
        conn.pragma_update(None, "foreign_keys", true).map_err(sql)?;
        let mut store = Store { conn, path: path.to_owned(), checked: false };
        store.migrate(create)?;
        Ok(store)
    }

    /// The file the store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        |source| StoreError::sqlite(&self.path, source)
    }

    /// Brings the schema up to date. A database at version 0 is only taken
    /// when it is empty and creation was asked for: any other program's
    /// SQLite file is refused untouched.
    fn migrate(&mut self, create: bool) -> Result<(), StoreError> {
        let path = self.path.clone();
        let corrupt = |source| StoreError::Corrupt { path: path.clone(), source };
        let version: i64 =
            self.conn.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(corrupt)?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema {
                path,
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        if version == 0 {
            let tables: i64 = self
                .conn
                .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
                .map_err(corrupt)?;
            if tables > 0 || !create {
                return Err(StoreError::NotBureau { path });
            }
        }
        let tx = self
            .conn
            .transaction()
            .map_err(|source| StoreError::Sqlite { path: path.clone(), source })?;
        for (v, sql) in schema::MIGRATIONS.iter().enumerate().skip(version as usize) {
            tracing::debug!(from = v, to = v + 1, "migrating store schema");
            let step = tx
                .execute_batch(sql)
                .and_then(|()| tx.pragma_update(None, "user_version", v as i64 + 1));
            step.map_err(|source| StoreError::Sqlite { path: path.clone(), source })?;
        }
        tx.commit().map_err(|source| StoreError::Sqlite { path, source })
    }

    /// SQLite's quick check of the whole file. A write runs it first (once
    /// per open store), so a damaged store is refused before anything more
    /// is written into it; reads pay nothing for it.
    pub fn check_integrity(&self) -> Result<(), StoreError> {
        let verdict: String =
            self.conn.pragma_query_value(None, "quick_check", |r| r.get(0)).map_err(self.err())?;
        if verdict == "ok" {
            return Ok(());
        }
        let source = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT),
            Some(verdict),
        );
        Err(StoreError::Corrupt { path: self.path.clone(), source })
    }

    /// The store's revision: a counter raised by every write, so derived data
    /// (index dumps) can tell whether it is stale.
    pub fn revision(&self) -> Result<i64, StoreError> {
        let value: String = self
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'revision'", [], |r| r.get(0))
            .map_err(self.err())?;
        Ok(value.parse().unwrap_or(0))
    }

    /// The model whose embeddings the store holds, if any.
    pub fn model_id(&self) -> Result<Option<String>, StoreError> {
        self.meta("model_id")
    }

    /// A value from the store's key-value table.
    pub fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(self.err())
    }

    /// Sets a value in the store's key-value table.
    pub fn set_meta(&mut self, key: &str, value: &str) -> Result<(), StoreError> {
        let path = self.path.clone();
        self.write(|tx| {
            tx.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)", [key, value])
                .map(drop)
                .map_err(|source| StoreError::Sqlite { path, source })
        })
    }

    /// Runs `work` in one transaction that also raises the revision; any error
    /// rolls everything back.
    pub fn write<T>(
        &mut self,
        work: impl FnOnce(&Transaction) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let path = self.path.clone();
        let sql = |source| StoreError::sqlite(&path, source);
        if !self.checked {
            self.check_integrity()?;
            self.checked = true;
        }
        let tx = self.conn.transaction().map_err(sql)?;
        let value = work(&tx)?;
        tx.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'revision'", [])
            .map_err(sql)?;
        tx.commit().map_err(sql)?;
        Ok(value)
    }

    /// Cached embeddings of the given texts under `model_id`, by text hash.
    pub fn cached(
        &self,
        hashes: &[[u8; 32]],
        model_id: &str,
    ) -> Result<HashMap<[u8; 32], Cached>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, embedding FROM situations WHERE text_hash = ?1 AND model_id = ?2",
            )
            .map_err(self.err())?;
        let mut found = HashMap::new();
        for hash in hashes {
            let row = stmt
                .query_row(params![&hash[..], model_id], |r| {
                    Ok((r.get::<_, i64>(0)?, records::blob_to_vec(&r.get::<_, Vec<u8>>(1)?)))
                })
                .optional()
                .map_err(self.err())?;
            if let Some(row) = row {
                found.insert(*hash, row);
            }
        }
        Ok(found)
    }

    /// Every agent, by id.
    pub fn agents(&self) -> Result<Vec<Agent>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, name, mission FROM agents ORDER BY id")
            .map_err(self.err())?;
        let rows = stmt
            .query_map([], |r| Ok(Agent { id: r.get(0)?, name: r.get(1)?, mission: r.get(2)? }))
            .map_err(self.err())?;
        rows.collect::<Result<_, _>>().map_err(self.err())
    }

    /// The connection, for the record queries in `records`.
    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }
}

/// Inserts a situation (or finds the cached one) and returns its id.
pub fn upsert_situation(
    tx: &Transaction,
    text: &str,
    model_id: &str,
    embedding: &[f32],
) -> Result<i64, rusqlite::Error> {
    let hash = text_hash(text);
    tx.execute(
        "INSERT INTO situations (text, text_hash, model_id, embedding) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (text_hash, model_id) DO NOTHING",
        params![text, &hash[..], model_id, records::vec_to_blob(embedding)],
    )?;
    tx.query_row(
        "SELECT id FROM situations WHERE text_hash = ?1 AND model_id = ?2",
        params![&hash[..], model_id],
        |r| r.get(0),
    )
}

/// Records the store's model on first use and refuses any other model after.
pub fn claim_model(tx: &Transaction, path: &Path, model_id: &str) -> Result<(), StoreError> {
    let sql = |source| StoreError::Sqlite { path: path.to_owned(), source };
    let stored: Option<String> = tx
        .query_row("SELECT value FROM meta WHERE key = 'model_id'", [], |r| r.get(0))
        .optional()
        .map_err(sql)?;
    match stored {
        Some(stored) if stored != model_id => Err(StoreError::ModelMismatch {
            path: path.to_owned(),
            stored,
            requested: model_id.to_owned(),
        }),
        Some(_) => Ok(()),
        None => tx
            .execute("INSERT INTO meta (key, value) VALUES ('model_id', ?1)", [model_id])
            .map(drop)
            .map_err(sql),
    }
}
