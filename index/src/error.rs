use thiserror::Error;

/// Why the index refused its input.
#[derive(Debug, Error, PartialEq)]
pub enum IndexError {
    /// A vector had a different dimension from the index.
    #[error("wrong dimension: expected {expected}, got {actual}")]
    Dimension {
        /// The index's dimension.
        expected: usize,
        /// The offending vector's length.
        actual: usize,
    },
    /// A vector held NaN or infinity.
    #[error("vector {index} has a non-finite component")]
    NonFinite {
        /// Position of the vector in its batch.
        index: usize,
    },
    /// A vector that must be unit length was not.
    #[error("vector {index} is not unit length (norm {norm})")]
    NotUnit {
        /// Position of the vector in its batch.
        index: usize,
        /// Its measured norm.
        norm: f32,
    },
    /// A radius outside (0, pi].
    #[error("radius {radius} is outside (0, pi]")]
    Radius {
        /// The offending radius.
        radius: f32,
    },
    /// The hnsw engine was asked for before its graphs were built or loaded.
    #[error("the hnsw engine has no graphs: build or load them first")]
    NoGraphs,
}
