//! The errors the encoder can return.

use std::path::PathBuf;

/// Why the encoder could not be built or could not embed a batch of texts.
#[derive(Debug, thiserror::Error)]
pub enum EncoderError {
    /// The configured model directory does not exist.
    #[error("model directory not found: {}", path.display())]
    ModelDirNotFound {
        /// The directory that was looked for.
        path: PathBuf,
    },

    /// A file the encoder needs (`model.onnx`, `tokenizer.json`) is missing
    /// from the model directory.
    #[error("model file not found: {}", path.display())]
    ModelFileNotFound {
        /// The file that was looked for.
        path: PathBuf,
    },

    /// The ONNX Runtime shared library does not exist at the configured path.
    #[error("onnx runtime library not found: {}", path.display())]
    RuntimeNotFound {
        /// The library file that was looked for.
        path: PathBuf,
    },

    /// The ONNX Runtime library exists but could not be loaded.
    #[error("could not load the onnx runtime library {}", path.display())]
    RuntimeLoad {
        /// The library file that failed to load.
        path: PathBuf,
        /// What the loader reported.
        #[source]
        source: ort::LoadDynamicError,
    },

    /// The process-wide ONNX Runtime environment could not be created.
    #[error("could not create the onnx runtime environment")]
    Environment {
        /// What ONNX Runtime reported.
        #[source]
        source: ort::Error,
    },

    /// ONNX Runtime could not load the model or configure its session.
    #[error("could not load the model {}", path.display())]
    Session {
        /// The model file.
        path: PathBuf,
        /// What ONNX Runtime reported.
        #[source]
        source: ort::Error,
    },

    /// The model file could not be read to compute its hash.
    #[error("could not read the model file {}", path.display())]
    ModelRead {
        /// The model file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },

    /// The tokenizer file could not be parsed or configured.
    #[error("could not load the tokenizer {}", path.display())]
    Tokenizer {
        /// The tokenizer file.
        path: PathBuf,
        /// What the tokenizers crate reported.
        #[source]
        source: tokenizers::Error,
    },

    /// A setting of [`EncoderConfig`](super::EncoderConfig) is out of range.
    #[error("{name} must be at least {min}, got {value}")]
    Setting {
        /// The field of the configuration.
        name: &'static str,
        /// The smallest accepted value.
        min: usize,
        /// The value given.
        value: usize,
    },

    /// The model lacks an input or output the encoder relies on.
    #[error("the model has no {kind} named {name:?}")]
    ModelSignature {
        /// `input` or `output`.
        kind: &'static str,
        /// The missing name.
        name: &'static str,
    },

    /// A text to embed is empty or contains only whitespace.
    #[error("text {index} is empty or whitespace only")]
    EmptyText {
        /// Its position in the slice given to [`Encoder::embed`](super::Encoder::embed).
        index: usize,
    },

    /// The texts could not be tokenised.
    #[error("could not tokenise the texts")]
    Tokenize {
        /// What the tokenizers crate reported.
        #[source]
        source: tokenizers::Error,
    },

    /// ONNX Runtime failed while running a batch or reading its output.
    #[error("inference failed")]
    Inference {
        /// What ONNX Runtime reported.
        #[source]
        source: ort::Error,
    },

    /// The model returned a tensor whose shape is not `[batch, tokens, dim]`
    /// for the batch it was given.
    #[error("model output has shape {actual:?}, expected [{batch}, {tokens}, dim]")]
    OutputShape {
        /// The shape returned.
        actual: Vec<i64>,
        /// The number of texts in the batch.
        batch: usize,
        /// The padded token count of the batch.
        tokens: usize,
    },
}
