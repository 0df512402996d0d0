#!/usr/bin/env bash
# Sets up the models, builds bureau, and runs the CLINC150 demo. Extra
# arguments go to `bureau demo` (e.g. --json). The demo's store,
# bureau-demo.db, caches embeddings so a second run skips the encoder.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --release --quiet
exec "${CARGO_TARGET_DIR:-target}/release/bureau" demo "$@"
