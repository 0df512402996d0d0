//! Sentence encoder: turns situation texts into unit vectors.
//!
//! The encoder reproduces what sentence-transformers 6.x computes for
//! all-MiniLM-L6-v2 (`max_seq_length` 256): WordPiece tokens with `[CLS]` and
//! `[SEP]`, truncated at 256 tokens, a BERT forward pass, mean pooling over
//! the attention mask and L2 normalisation. The model runs with ONNX Runtime,
//! loaded from a shared library at run time. Against the FP32 reference in
//! `tests/data/reference-all-MiniLM-L6-v2.jsonl` the int8 model gives a cosine
//! of at least 0.995 on every row.
//!
//! Texts are sorted by token count before batching, so each batch is padded
//! only to its own longest text; results come back in input order.

mod error;
mod pooling;
mod runtime;

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};

use ort::session::{Session, SessionInputValue};
use ort::value::Tensor;
use tokenizers::{Encoding, Tokenizer};

pub use self::error::EncoderError;

/// The output of the model this encoder pools.
const OUTPUT: &str = "last_hidden_state";

/// Where the model and ONNX Runtime live, and how to batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncoderConfig {
    /// Directory holding `model.onnx` and `tokenizer.json`.
    pub model_dir: PathBuf,
    /// Path of the ONNX Runtime shared library (`libonnxruntime.so.*`).
    pub runtime_lib: PathBuf,
    /// Texts per forward pass; at least 1.
    pub batch_size: usize,
    /// Tokens per text, `[CLS]` and `[SEP]` included; longer texts are
    /// truncated. At least 3, and at most the model's 512 positions.
    pub max_tokens: usize,
    /// Intra-op threads for ONNX Runtime; 0 keeps its default.
    pub threads: usize,
}

impl EncoderConfig {
    /// Returns the default configuration, taking paths from the environment.
    ///
    /// `model_dir` is `$BUREAU_MODEL_DIR`, else
    /// `<repo>/models/all-MiniLM-L6-v2-int8`; `runtime_lib` is
    /// `$BUREAU_ORT_LIB`, else `<repo>/models/onnxruntime/libonnxruntime.so.1.32.0`.
    /// Batches hold 32 texts, truncated at 256 tokens, on the default threads.
    pub fn from_env() -> Self {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        let path_var = |name: &str, default: PathBuf| match std::env::var_os(name) {
            Some(v) if !v.is_empty() => PathBuf::from(v),
            _ => default,
        };
        EncoderConfig {
            model_dir: path_var("BUREAU_MODEL_DIR", repo.join("models/all-MiniLM-L6-v2-int8")),
            runtime_lib: path_var(
                "BUREAU_ORT_LIB",
                repo.join("models/onnxruntime/libonnxruntime.so.1.32.0"),
            ),
            batch_size: 32,
            max_tokens: 256,
            threads: 0,
        }
    }

    /// Checks the numeric settings.
    fn validate(&self) -> Result<(), EncoderError> {
        let at_least = |name, min, value| match value >= min {
            true => Ok(()),
            false => Err(EncoderError::Setting { name, min, value }),
        };
        at_least("batch_size", 1, self.batch_size)?;
        at_least("max_tokens", 3, self.max_tokens)
    }
}

/// A loaded sentence encoder: tokenizer plus ONNX Runtime session.
pub struct Encoder {
    session: Session,
    tokenizer: Tokenizer,
    pad_id: i64,
    has_token_types: bool,
    model_id: String,
    dim: usize,
    batch_size: usize,
    max_tokens: usize,
}

impl fmt::Debug for Encoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Encoder")
            .field("model_id", &self.model_id)
            .field("dim", &self.dim)
            .field("batch_size", &self.batch_size)
            .field("max_tokens", &self.max_tokens)
            .finish_non_exhaustive()
    }
}

impl Encoder {
    /// Loads the tokenizer and the model named by `config`.
    ///
    /// Every path is checked before ONNX Runtime is touched, so a missing
    /// directory, model, tokenizer or runtime library is an error naming it.
    /// The runtime library is loaded once per process; a later encoder naming
    /// another library logs a warning and shares the first one.
    pub fn try_new(config: &EncoderConfig) -> Result<Self, EncoderError> {
        config.validate()?;

        // Paths first: ort may panic on a library it cannot open.
        let dir = &config.model_dir;
        if !dir.is_dir() {
            return Err(EncoderError::ModelDirNotFound { path: dir.clone() });
        }
        let model = existing_file(dir.join("model.onnx"))?;
        let tokenizer_path = existing_file(dir.join("tokenizer.json"))?;
        let env = runtime::environment(&config.runtime_lib)?;

        // Tokenizer, model and the model's name.
        let tokenizer = runtime::tokenizer(&tokenizer_path, config.max_tokens)?;
        let pad_id = tokenizer.get_padding().map_or(0, |p| i64::from(p.pad_id));
        tracing::debug!(
            model = %model.display(),
            threads = config.threads,
            batch_size = config.batch_size,
            max_tokens = config.max_tokens,
            "loading encoder"
        );
        let session = runtime::session(&env, &model, config.threads)?;
        let model_id = runtime::model_id(dir, &model)?;
        let (has_token_types, dim) = check_signature(&session)?;

        let mut encoder = Encoder {
            session,
            tokenizer,
            pad_id,
            has_token_types,
            model_id,
            dim: dim.unwrap_or(0),
            batch_size: config.batch_size,
            max_tokens: config.max_tokens,
        };
        if encoder.dim == 0 {
            // The output shape leaves the width open: learn it from one run.
            let probe = encoder.tokenize(&["dimension probe"])?;
            let refs: Vec<&Encoding> = probe.iter().collect();
            encoder.dim = encoder.run_batch(&refs)?.first().map_or(0, Vec::len);
        }
        tracing::debug!(model_id = %encoder.model_id, dim = encoder.dim, "encoder ready");
        Ok(encoder)
    }

    /// Returns the id recorded with every embedding:
    /// `<model dir name>@<first 12 hex digits of sha256(model.onnx)>`.
    pub fn model_id(&self) -> &str {
        &self.model_id
    }

    /// Returns the dimension of the embeddings (384 for all-MiniLM-L6-v2).
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Embeds `texts` and returns one unit vector per text, in input order.
    ///
    /// Texts are sorted by token count and run in batches of `batch_size`;
    /// `progress` receives the number of texts done after each batch. Texts
    /// longer than `max_tokens` are truncated, with one warning per call.
    /// An empty or whitespace-only text fails the whole call with
    /// [`EncoderError::EmptyText`] before any work is done.
    pub fn embed(
        &mut self,
        texts: &[&str],
        progress: &mut dyn FnMut(usize),
    ) -> Result<Vec<Vec<f32>>, EncoderError> {
        if let Some(index) = texts.iter().position(|t| t.trim().is_empty()) {
            return Err(EncoderError::EmptyText { index });
        }
        let encodings = self.tokenize(texts)?;
        self.report_truncation(&encodings);

        // Longest first, as sentence-transformers does, so padding is small.
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(encodings[i].len()));

        let mut out = vec![Vec::new(); texts.len()];
        let mut done = 0;
        for chunk in order.chunks(self.batch_size) {
            let batch: Vec<&Encoding> = chunk.iter().map(|&i| &encodings[i]).collect();
            let vectors = self.run_batch(&batch)?;
            for (&i, v) in chunk.iter().zip(vectors) {
                out[i] = v;
            }
            done += chunk.len();
            progress(done);
        }
        Ok(out)
    }

    /// Tokenises `texts` with special tokens, truncated, unpadded.
    fn tokenize(&self, texts: &[&str]) -> Result<Vec<Encoding>, EncoderError> {
        self.tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|source| EncoderError::Tokenize { source })
    }

    /// Logs each truncated text at trace level and their count once at warn.
    fn report_truncation(&self, encodings: &[Encoding]) {
        let mut truncated = 0;
        for (index, e) in encodings.iter().enumerate() {
            if !e.get_overflowing().is_empty() {
                truncated += 1;
                tracing::trace!(index, max_tokens = self.max_tokens, "text truncated");
            }
        }
        if truncated > 0 {
            tracing::warn!(
                truncated,
                total = encodings.len(),
                max_tokens = self.max_tokens,
                "texts longer than max_tokens truncated; embedding their first tokens only"
            );
        }
    }

    /// Runs one batch through the model and pools each text to a unit
    /// vector. The batch is padded to its longest encoding.
    fn run_batch(&mut self, batch: &[&Encoding]) -> Result<Vec<Vec<f32>>, EncoderError> {
        let tensors = BatchTensors::new(batch, self.pad_id);
        let (rows, cols) = (batch.len(), tensors.tokens);
        let shape = [rows, cols];
        let fail = |source| EncoderError::Inference { source };

        // Inputs by name; token_type_ids only when the model takes it.
        let mut inputs: Vec<(Cow<'_, str>, SessionInputValue<'_>)> = vec![
            ("input_ids".into(), Tensor::from_array((shape, tensors.ids)).map_err(fail)?.into()),
            (
                "attention_mask".into(),
                Tensor::from_array((shape, tensors.mask.clone())).map_err(fail)?.into(),
            ),
        ];
        if self.has_token_types {
            let types = Tensor::from_array((shape, tensors.types)).map_err(fail)?;
            inputs.push(("token_type_ids".into(), types.into()));
        }

        // Forward pass, then pooling per text.
        let outputs = self.session.run(inputs).map_err(fail)?;
        let hidden = outputs
            .get(OUTPUT)
            .ok_or(EncoderError::ModelSignature { kind: "output", name: OUTPUT })?;
        let (out_shape, data) = hidden.try_extract_tensor::<f32>().map_err(fail)?;
        let dim = match **out_shape {
            [b, t, d] if b == rows as i64 && t == cols as i64 && d > 0 => d as usize,
            _ => {
                return Err(EncoderError::OutputShape {
                    actual: out_shape.to_vec(),
                    batch: rows,
                    tokens: cols,
                })
            }
        };
        let vectors = data
            .chunks_exact(cols * dim)
            .zip(tensors.mask.chunks_exact(cols))
            .map(|(h, m)| pooling::mean_pool_unit(h, m, dim))
            .collect();
        Ok(vectors)
    }
}

/// The three int64 inputs of a BERT model for one batch, row-major
/// `[batch, tokens]`, padded to the longest encoding of the batch.
struct BatchTensors {
    ids: Vec<i64>,
    mask: Vec<i64>,
    types: Vec<i64>,
    tokens: usize,
}

impl BatchTensors {
    fn new(batch: &[&Encoding], pad_id: i64) -> Self {
        let tokens = batch.iter().map(|e| e.len()).max().unwrap_or(0);
        let size = batch.len() * tokens;
        let mut t = BatchTensors {
            ids: Vec::with_capacity(size),
            mask: Vec::with_capacity(size),
            types: Vec::with_capacity(size),
            tokens,
        };
        for e in batch {
            let pad = tokens - e.len();
            t.ids.extend(e.get_ids().iter().map(|&x| i64::from(x)));
            t.ids.extend(std::iter::repeat_n(pad_id, pad));
            t.mask.extend(e.get_attention_mask().iter().map(|&x| i64::from(x)));
            t.mask.extend(std::iter::repeat_n(0, pad));
            t.types.extend(e.get_type_ids().iter().map(|&x| i64::from(x)));
            t.types.extend(std::iter::repeat_n(0, pad));
        }
        t
    }
}

/// Returns `path` if it is a file, else the error naming it.
fn existing_file(path: PathBuf) -> Result<PathBuf, EncoderError> {
    match path.is_file() {
        true => Ok(path),
        false => Err(EncoderError::ModelFileNotFound { path }),
    }
}

/// Checks that the model takes `input_ids` and `attention_mask` and returns
/// `last_hidden_state`; returns whether it takes `token_type_ids` and the
/// embedding width when the output shape fixes it.
fn check_signature(session: &Session) -> Result<(bool, Option<usize>), EncoderError> {
    let has_input = |name: &str| session.inputs().iter().any(|i| i.name() == name);
    for name in ["input_ids", "attention_mask"] {
        if !has_input(name) {
            return Err(EncoderError::ModelSignature { kind: "input", name });
        }
    }
    let output = session
        .outputs()
        .iter()
        .find(|o| o.name() == OUTPUT)
        .ok_or(EncoderError::ModelSignature { kind: "output", name: OUTPUT })?;
    let dim = output
        .dtype()
        .tensor_shape()
        .and_then(|s| s.last().copied())
        .and_then(|d| usize::try_from(d).ok())
        .filter(|&d| d > 0);
    Ok((has_input("token_type_ids"), dim))
}
