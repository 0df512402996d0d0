//! Embedding situations through the store's cache: a text is embedded once
//! per model, then read back from the store.

use crate::encoder::Encoder;
use crate::store::{text_hash, Store};
use crate::{Error, Progress};
use std::collections::HashMap;

/// Embeds `texts` (in order), reading cached embeddings from `store` and
/// running the encoder only on the texts it has not seen. Nothing is written:
/// the caller stores new situations inside its own transaction.
pub fn embed_cached(
    store: &Store,
    encoder: &mut Encoder,
    texts: &[&str],
    progress: Progress,
) -> Result<Vec<Vec<f32>>, Error> {
    let model_id = encoder.model_id().to_owned();
    if let Some(stored) = store.model_id()? {
        if stored != model_id {
            return Err(crate::store::StoreError::ModelMismatch {
                path: store.path().to_owned(),
                stored,
                requested: model_id,
            }
            .into());
        }
    }
    let hashes: Vec<[u8; 32]> = texts.iter().map(|t| text_hash(t)).collect();
    let cached = store.cached(&hashes, &model_id)?;
    let mut fresh: HashMap<[u8; 32], Vec<f32>> = HashMap::new();
    let mut missing: Vec<&str> = Vec::new();
    for (text, hash) in texts.iter().zip(&hashes) {
        if !cached.contains_key(hash) && fresh.insert(*hash, Vec::new()).is_none() {
            missing.push(text);
        }
    }
    tracing::debug!(cached = texts.len() - missing.len(), fresh = missing.len(), "embedding");
    let total = missing.len();
    let vectors = encoder.embed(&missing, &mut |done| progress("embedding", done, total))?;
    for (text, v) in missing.iter().zip(vectors) {
        fresh.insert(text_hash(text), v);
    }
    Ok(hashes
        .iter()
        .map(|h| cached.get(h).map(|(_, v)| v.clone()).unwrap_or_else(|| fresh[h].clone()))
        .collect())
}
