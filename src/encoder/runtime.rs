//! Loading ONNX Runtime, the model session and the tokenizer.
//!
//! ONNX Runtime allows one environment per process, and `ort` loads its
//! shared library once per process, so both live in a process-wide slot that
//! every [`Encoder`](super::Encoder) shares.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use ort::environment::Environment;
use ort::session::Session;
use sha2::{Digest, Sha256};
use tokenizers::Tokenizer;

use super::EncoderError;

/// The environment of this process and the library it was loaded from.
static ENVIRONMENT: Mutex<Option<(PathBuf, Environment)>> = Mutex::new(None);

/// Returns the process-wide ONNX Runtime environment, loading `lib` first if
/// no encoder has done so yet.
///
/// `lib` must exist even when a runtime is already loaded, so a wrong path in
/// a configuration is reported whatever ran before it.
pub(crate) fn environment(lib: &Path) -> Result<Environment, EncoderError> {
    if !lib.is_file() {
        return Err(EncoderError::RuntimeNotFound { path: lib.to_path_buf() });
    }
    // A panic while holding the lock leaves the slot either empty or filled
    // with a complete environment, so a poisoned lock is still consistent.
    let mut slot = ENVIRONMENT.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((loaded, env)) = slot.as_ref() {
        if loaded != lib {
            tracing::warn!(
                requested = %lib.display(),
                loaded = %loaded.display(),
                "onnx runtime already loaded in this process; using the loaded library"
            );
        }
        return Ok(env.clone());
    }

    tracing::debug!(path = %lib.display(), "loading onnx runtime");
    let builder = ort::init_from(lib)
        .map_err(|source| EncoderError::RuntimeLoad { path: lib.to_path_buf(), source })?;
    let env = builder
        .with_name("bureau")
        .build()
        .map_err(|source| EncoderError::Environment { source })?;
    *slot = Some((lib.to_path_buf(), env.clone()));
    Ok(env)
}

/// Opens an inference session on `model` with `threads` intra-op threads
/// (0 keeps ONNX Runtime's default, one per physical core).
pub(crate) fn session(
    env: &Environment,
    model: &Path,
    threads: usize,
) -> Result<Session, EncoderError> {
    let fail = |source: ort::Error| EncoderError::Session { path: model.to_path_buf(), source };
    let mut builder = Session::builder(env).map_err(fail)?;
    if threads > 0 {
        builder =
            builder.with_intra_threads(threads).map_err(|e| fail(ort::Error::<()>::from(e)))?;
    }
    builder.commit_from_file(model).map_err(fail)
}

/// Loads the tokenizer and sets it up for the encoder: no padding (batches
/// are padded to their own longest text when the tensors are built) and
/// truncation at `max_tokens`, special tokens included.
///
/// The tokenizer.json shipped with the model pads every text to 128 tokens
/// and truncates at 128; sentence-transformers uses 256 for this model.
pub(crate) fn tokenizer(path: &Path, max_tokens: usize) -> Result<Tokenizer, EncoderError> {
    let fail = |source| EncoderError::Tokenizer { path: path.to_path_buf(), source };
    let mut tokenizer = Tokenizer::from_file(path).map_err(fail)?;
    let truncation = tokenizers::TruncationParams {
        max_length: max_tokens,
        ..tokenizer.get_truncation().cloned().unwrap_or_default()
    };
    tokenizer.with_padding(None);
    tokenizer.with_truncation(Some(truncation)).map_err(fail)?;
    Ok(tokenizer)
}

/// Names a model as `<dir name>@<first 12 hex digits of sha256(model.onnx)>`.
pub(crate) fn model_id(dir: &Path, model: &Path) -> Result<String, EncoderError> {
    let fail = |source| EncoderError::ModelRead { path: model.to_path_buf(), source };
    let mut file = std::fs::File::open(model).map_err(fail)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf).map_err(fail)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    let hex: String = hasher.finalize().iter().take(6).map(|b| format!("{b:02x}")).collect();
    let name = dir
        .canonicalize()
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| dir.display().to_string());
    Ok(format!("{name}@{hex}"))
}
