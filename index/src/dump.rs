//! Dumps of the hnsw graphs, stamped so that a stale or damaged dump is
//! refused rather than used.
//!
//! A dump is a directory: hnsw_rs's own `graphN.hnsw.graph` and
//! `graphN.hnsw.data` per graph, and `stamp.json`, written last (through a
//! rename), naming the format, the caller's revision, a fingerprint of the
//! prototypes, the parameters, and the length and FNV-1a checksum of every
//! file. Loading checks all of it before hnsw_rs reads a byte, so a dump
//! from another revision, another set of prototypes, a half-written dump or
//! a flipped bit is reported as a [`DumpError`] and the caller rebuilds.

use crate::hnsw::{group_members, scanned_members, Graph, Graphs, HnswParams};
use crate::ScopeIndex;
use hnsw_rs::prelude::{AnnT, DistDot, Hnsw, HnswIo};
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Version of the dump layout; a dump of another version is refused.
pub const GRAPH_FORMAT: u32 = 2;

const STAMP: &str = "stamp.json";

/// Why graphs could not be dumped or loaded.
#[derive(Debug, thiserror::Error)]
pub enum DumpError {
    /// A file could not be read or written.
    #[error("cannot {action} {path}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// hnsw_rs failed to write or read a graph.
    #[error("hnsw_rs cannot {action} the graph {path}")]
    Graph {
        /// What was being done.
        action: &'static str,
        /// The graph's base path.
        path: PathBuf,
        /// hnsw_rs's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The directory holds no stamp: never dumped, or a dump cut short.
    #[error("no graph dump in {path}")]
    Missing {
        /// The dump directory.
        path: PathBuf,
    },
    /// The stamp cannot be parsed.
    #[error("graph dump stamp {path} is unreadable")]
    Stamp {
        /// The stamp file.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// The dump was made at another revision of the store.
    #[error("graph dump in {path} is stale: made at revision {found}, now {expected}")]
    Stale {
        /// The dump directory.
        path: PathBuf,
        /// The revision asked for.
        expected: i64,
        /// The dump's revision.
        found: i64,
    },
    /// The dump does not describe this index's prototypes or parameters.
    #[error("graph dump in {path} does not match the index: {what} differs")]
    Mismatch {
        /// The dump directory.
        path: PathBuf,
        /// Which part differs.
        what: &'static str,
    },
    /// A dumped file's length or checksum differs from its stamp.
    #[error("graph dump file {path} is corrupt (length or checksum differs)")]
    Corrupt {
        /// The damaged file.
        path: PathBuf,
    },
    /// There were no graphs to dump.
    #[error("the index has no graphs to dump")]
    NoGraphs,
}

/// Length and checksum of one dumped file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct FileSum {
    name: String,
    bytes: u64,
    fnv: u64,
}

/// What `stamp.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Stamp {
    format: u32,
    revision: i64,
    prototypes: usize,
    dim: usize,
    fingerprint: u64,
    params: HnswParams,
    lift_norm: f32,
    graphs: usize,
    files: Vec<FileSum>,
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a over 64-bit words (a trailing partial word is zero-padded).
fn fnv_words(mut h: u64, bytes: &[u8]) -> u64 {
    for chunk in bytes.chunks(8) {
        let mut word = [0u8; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        h = (h ^ u64::from_le_bytes(word)).wrapping_mul(FNV_PRIME);
    }
    h
}

/// Length and checksum of a file, read in 1 MiB pieces.
fn file_sum(path: &Path) -> Result<(u64, u64), DumpError> {
    let io = |source| DumpError::Io { action: "read", path: path.to_owned(), source };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let (mut h, mut total, mut buf) = (FNV_OFFSET, 0u64, vec![0u8; 1 << 20]);
    loop {
        let n = read_full(&mut file, &mut buf).map_err(io)?;
        if n == 0 {
            return Ok((total, h));
        }
        h = fnv_words(h, &buf[..n]);
        total += n as u64;
    }
}

/// Fills `buf` as far as the file allows, so pieces always start on the
/// same 8-byte boundaries whatever the reads return.
fn read_full(file: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

impl ScopeIndex {
    /// A checksum of the prototypes (dimension, agents, radii, centres): a
    /// dump of other prototypes never passes for this index's.
    pub fn fingerprint(&self) -> u64 {
        let mut h = fnv_words(FNV_OFFSET, &(self.dim() as u64).to_le_bytes());
        let words =
            |v: &[f32]| v.iter().flat_map(|a| a.to_bits().to_le_bytes()).collect::<Vec<u8>>();
        let agents: Vec<u8> = self.agents().iter().flat_map(|a| a.to_le_bytes()).collect();
        h = fnv_words(h, &agents);
        h = fnv_words(h, &words(self.radii()));
        for row in self.centres().chunks(self.dim().max(1) * 4096) {
            h = fnv_words(h, &words(row));
        }
        h
    }

    /// Writes the graphs into `dir` (created if needed) stamped with
    /// `revision`. The old stamp is removed first, so a dump cut short
    /// leaves a directory that loads as [`DumpError::Missing`].
    pub fn dump_graphs(&self, dir: &Path, revision: i64) -> Result<(), DumpError> {
        let graphs = self.graphs.as_deref().ok_or(DumpError::NoGraphs)?;
        let io = |action, path: &Path| {
            let path = path.to_owned();
            move |source| DumpError::Io { action, path, source }
        };
        std::fs::create_dir_all(dir).map_err(io("create", dir))?;
        let stamp_path = dir.join(STAMP);
        if stamp_path.exists() {
            std::fs::remove_file(&stamp_path).map_err(io("remove", &stamp_path))?;
        }
        let mut files = Vec::new();
        for (b, graph) in graphs.graphs.iter().enumerate() {
            let base = format!("graph{b}");
            let written = graph.hnsw.file_dump(dir, &base).map_err(|e| DumpError::Graph {
                action: "dump",
                path: dir.join(&base),
                source: e.into(),
            })?;
            if written != base {
                return Err(DumpError::Mismatch { path: dir.to_owned(), what: "graph file name" });
            }
            for name in [format!("{base}.hnsw.graph"), format!("{base}.hnsw.data")] {
                let (bytes, fnv) = file_sum(&dir.join(&name))?;
                files.push(FileSum { name, bytes, fnv });
            }
        }
        let stamp = Stamp {
            format: GRAPH_FORMAT,
            revision,
            prototypes: self.len(),
            dim: self.dim(),
            fingerprint: self.fingerprint(),
            params: graphs.params.clone(),
            lift_norm: graphs.lift_norm,
            graphs: graphs.graphs.len(),
            files,
        };
        // Invariant: the stamp holds only numbers, strings and enums.
        let text = serde_json::to_vec_pretty(&stamp).expect("a stamp always serialises");
        let tmp = dir.join("stamp.json.tmp");
        std::fs::write(&tmp, text).map_err(io("write", &tmp))?;
        std::fs::rename(&tmp, &stamp_path).map_err(io("rename", &stamp_path))
    }

    /// Loads graphs dumped by [`ScopeIndex::dump_graphs`] at `revision` for
    /// these same prototypes. Any doubt (missing, stale, other prototypes or
    /// format, a damaged file) is an error and leaves the index as it was.
    pub fn load_graphs(&mut self, dir: &Path, revision: i64) -> Result<(), DumpError> {
        let stamp = self.check_stamp(dir, revision)?;
        for f in &stamp.files {
            let path = dir.join(&f.name);
            if file_sum(&path)? != (f.bytes, f.fnv) {
                return Err(DumpError::Corrupt { path });
            }
        }
        let groups = group_members(&stamp.params, self.radii());
        if groups.len() != stamp.graphs {
            return Err(DumpError::Mismatch { path: dir.to_owned(), what: "number of graphs" });
        }
        let mut graphs = Vec::with_capacity(groups.len());
        for (b, members) in groups.into_iter().enumerate() {
            let hnsw = load_one(dir, &format!("graph{b}"))?;
            if hnsw.get_nb_point() != members.len() {
                return Err(DumpError::Mismatch { path: dir.to_owned(), what: "graph size" });
            }
            let max_radius =
                members.iter().map(|&i| self.radius_of(i as usize)).fold(0.0, f32::max);
            graphs.push(Graph { hnsw, members, max_radius });
        }
        let scanned = scanned_members(&stamp.params, self.radii());
        let loaded = Graphs { params: stamp.params, graphs, scanned, lift_norm: stamp.lift_norm };
        self.graphs = Some(Arc::new(loaded));
        Ok(())
    }

    /// Reads the stamp and checks it against `revision` and this index.
    fn check_stamp(&self, dir: &Path, revision: i64) -> Result<Stamp, DumpError> {
        let path = dir.join(STAMP);
        if !path.exists() {
            return Err(DumpError::Missing { path: dir.to_owned() });
        }
        let text = std::fs::read(&path).map_err(|source| DumpError::Io {
            action: "read",
            path: path.clone(),
            source,
        })?;
        let stamp: Stamp = serde_json::from_slice(&text)
            .map_err(|source| DumpError::Stamp { path: path.clone(), source })?;
        let mismatch = |what| Err(DumpError::Mismatch { path: dir.to_owned(), what });
        if stamp.format != GRAPH_FORMAT {
            return mismatch("format");
        }
        if stamp.revision != revision {
            let (expected, found) = (revision, stamp.revision);
            return Err(DumpError::Stale { path: dir.to_owned(), expected, found });
        }
        if (stamp.prototypes, stamp.dim) != (self.len(), self.dim()) {
            return mismatch("prototype count or dimension");
        }
        if stamp.fingerprint != self.fingerprint() {
            return mismatch("prototypes");
        }
        Ok(stamp)
    }
}

/// Loads one hnsw_rs graph.
fn load_one(dir: &Path, base: &str) -> Result<Hnsw<'static, f32, DistDot>, DumpError> {
    // hnsw_rs ties a loaded graph's lifetime to its loader (for memory-mapped
    // data, unused here), so the loader, a few paths and counters with no
    // mapping, is leaked to give the graph a 'static lifetime.
    // TODO(hnsw-load): drop the leak when hnsw_rs returns owned graphs.
    let loader: &'static mut HnswIo = Box::leak(Box::new(HnswIo::new(dir, base)));
    loader.load_hnsw::<f32, DistDot>().map_err(|e| DumpError::Graph {
        action: "load",
        path: dir.join(base),
        source: e.into(),
    })
}
