#!/usr/bin/env bash
# Makes llama-custom-ops.pte: a tiny zero-weight Llama exported by ExecuTorch's own export_llama WITH its custom
# SDPA and cache-update operators (llama::custom_sdpa, llama::update_cache), which the C++ runtime libraries of the
# executorch wheel do not have. The LLM tests check that etbench names them and says how to export without them.
#   .venv-export/bin/python must exist (bash scripts/setup-export-env.sh).
set -euo pipefail
cd "$(dirname "$0")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo '{"dim":32,"n_layers":1,"n_heads":2,"n_kv_heads":1,"vocab_size":64,"multiple_of":16,"norm_eps":1e-5}' > "$work/params.json"
../../../../.venv-export/bin/python -m executorch.examples.models.llama.export_llama -p "$work/params.json" -kv \
    --use_sdpa_with_kv_cache --max_seq_length 32 --max_context_length 32 -d fp32 --output_name "$work/out.pte" >&2
cp "$work/out.pte" llama-custom-ops.pte
