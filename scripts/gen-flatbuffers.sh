#!/usr/bin/env bash
# Regenerates harness/src/inspect/fb/*_generated.rs from the schemas inside the pinned executorch wheel, with the flatc it ships.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --no-deps --only-binary=:all: executorch==1.5.1 -d "$tmp"
python3 -m zipfile -e "$tmp"/executorch-*.whl "$tmp/x"
et="$tmp/x/executorch"; chmod +x "$et/data/bin/flatc"
"$et/data/bin/flatc" --rust -o "$tmp/gen" "$et/schema/program.fbs" "$et/schema/scalar_type.fbs" "$et/devtools/etdump/etdump_schema_flatcc.fbs"
cp "$tmp/gen/program_generated.rs" "$tmp/gen/scalar_type_generated.rs" harness/src/inspect/fb/
cp "$tmp/gen/etdump_schema_flatcc_generated.rs" harness/src/inspect/fb/etdump_generated.rs
sed -i 's/use crate::scalar_type_generated::\*;/use crate::inspect::fb::scalar_type_generated::executorch_flatbuffer::*;/' harness/src/inspect/fb/*_generated.rs
echo "regenerated harness/src/inspect/fb/ with $("$et/data/bin/flatc" --version)" >&2
