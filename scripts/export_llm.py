#!/usr/bin/env python3
"""Export tiny KV-cache LLM test fixtures with ExecuTorch's own Llama exporter, and write/check
models/manifest-llm.json (expected greedy generations).

Usage (after `bash scripts/setup-export-env.sh`):

    .venv-export/bin/python scripts/export_llm.py                 # 3 tiny Llama fixtures + the hand-written
                                                                  # cache_position and prefill/decode fixtures
                                                                  # + manifest -> models/
    .venv-export/bin/python scripts/export_llm.py --out-dir /tmp/x --variants llama-tiny-kv-fp32
    .venv-export/bin/python scripts/export_llm.py --manifest-only # re-measure the committed .pte files, rewrite
                                                                  # the Llama entries of the manifest
    .venv-export/bin/python scripts/export_llm.py --check         # no export: sha256 + re-run every recorded
                                                                  # generation (all families); exit 1 on mismatch

The fixtures come from `python -m executorch.examples.models.llama.export_llama` (the module shipped in the
executorch wheel) with `-kv` (KV cache as mutable buffers) and a seeded random checkpoint (`-c`): without a
checkpoint export_llama leaves every weight at zero. Programs follow the convention of ExecuTorch's LLM runners:
    forward(tokens int64 [1, S], input_pos int64 [1]) -> logits float32 [1, vocab] of the LAST position
    constant methods get_max_seq_len, get_max_context_len, get_n_layers, get_vocab_size, use_kv_cache,
    use_sdpa_with_kv_cache, enable_dynamic_shape, get_bos_id, get_eos_ids.
Variants: llama-tiny-kv-xnnpack (dynamic S, `-X`), llama-tiny-kv-static-xnnpack (`--disable_dynamic_shape`:
S = 1, prefill token by token, `-X`), llama-tiny-kv-fp32 (dynamic S, no delegate: portable/optimized kernels).
No custom ops (`--use_sdpa_with_kv_cache` would need `llama::*` ops, absent from the C++ runtime libraries).

A fourth fixture, tiny-kv-cache-position-fp32 (family "hand-written"), tests the calling convention of transformers'
exportable modules / optimum-executorch instead:
    forward(input_ids int64 [1, S], cache_position int64 [S]) -> logits float32 [1, S, vocab] of EVERY position
a small Llama-like decoder written here in torch.nn (seeded random weights; static KV cache in registered buffers
k_cache/v_cache [1, heads, max_ctx, head_dim] written with index_copy_ at cache_position; causal mask over the
cache from cache_position), exported with torch.export (dynamic S, shared by both inputs) +
to_edge_transform_and_lower + to_executorch, no delegate, the same constant methods as export_llama's. Its
generations use cache_position = arange(start, start + S) where the other programs get input_pos = [start], and
prompt lengths 1, 8, 16, 32 with 33 generated ids (max context 64).

A fifth fixture, tiny-kv-prefill-decode-fp32 (family "hand-written", convention "prefill_decode_methods"), is the
same decoder and weights as two methods sharing one KV cache, and no forward:
    prefill(tokens int64 [1, S dynamic 1..63], input_pos int64 [1]) -> logits float32 [1, vocab] of the LAST position
    decode(tokens int64 [1, 1], input_pos int64 [1])                 -> logits float32 [1, vocab]
(cache_position = input_pos + arange(S) inside), exported as one multi-method program with
to_executorch(ExecutorchBackendConfig(memory_planning_pass=MemoryPlanningPass(share_mutable_buffers=True),
emit_mutable_buffer_names=True)): the KV caches are planned once, for both methods. In the Python runtime both
methods must come from ONE Program object to share them. Its generations (the cache_position fixture's prompts and
lengths) feed the prompt to prefill and each generated id to decode, and must equal the cache_position program's.

Prompt rule (etbench's C++/Rust runner implements the same): ids[i] = splitmix64(seed)[i] % vocab_size, with the
standard SplitMix64 sequence from state `seed`; vocab_size = the program's get_vocab_size. Greedy generation:
prefill the whole prompt in one call at input_pos=[0] when the token dimension is dynamic (else one token per
call at input_pos=[i]); argmax of the last logits row (first maximal index on ties) is the first generated id;
then each generated id is fed back at input_pos=[pos], one per call. Decoding continues past EOS. Programs with
prefill + decode methods: the prompt goes to prefill (token by token: prefill with S = 1), each generated id to decode.

This file is also a library: scripts/export_gemma3n.py --kv-cache uses its generation/manifest functions.
Everything is logged to stderr; nothing is printed on stdout. Exit status: 0 ok, 1 --check mismatch, 2 error.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LOG = logging.getLogger("export_llm")

REPO_ROOT = Path(__file__).resolve().parent.parent
MANIFEST_NAME = "manifest-llm.json"
SCHEMA_VERSION = 1
GENERATOR = "scripts/export_llm.py"
PROMPT_RULE = "ids[i] = splitmix64(seed)[i] % vocab_size"
TIE_BREAK = "first maximal index"
FAMILY_ORDER = ("llama", "gemma3n", "hand-written")
CONVENTIONS = ("tokens_input_pos", "input_ids_cache_position", "prefill_decode_methods")
# Methods that take (tokens, position) inputs: every other method of an LLM program is a constant metadata method.
STEP_METHODS = ("forward", "prefill", "decode")

PROMPT_SEED = 0
PROMPT_LENS = (1, 8, 16, 32, 64)
N_GENERATED = 48

SPLITMIX64_SEED0 = (0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F)

# ---- tiny Llama ---------------------------------------------------------------------------------
LLAMA_EXPORTER = "executorch.examples.models.llama.export_llama"
LLAMA_PARAMS = {"dim": 128, "n_layers": 2, "n_heads": 4, "n_kv_heads": 2, "vocab_size": 512,
                "multiple_of": 32, "norm_eps": 1e-5, "hidden_dim": 256}
LLAMA_MAX_SEQ_LEN = 128
LLAMA_MAX_CONTEXT_LEN = 128
LLAMA_METADATA = {"get_bos_id": 1, "get_eos_ids": [2]}
LLAMA_SEED = 0
# name -> (extra export_llama flags, dynamic token dim, delegate)
LLAMA_VARIANTS = {
    "llama-tiny-kv-xnnpack": (["-X"], True, "XnnpackBackend"),
    "llama-tiny-kv-static-xnnpack": (["-X", "--disable_dynamic_shape"], False, "XnnpackBackend"),
    "llama-tiny-kv-fp32": ([], True, None),
}
LLAMA_MAX_BYTES = 2_000_000

# ---- hand-written input_ids + cache_position decoder ----------------------------------------------
CP_FAMILY = "hand-written"
CP_EXPORTER = "torch.export.export + executorch.exir.to_edge_transform_and_lower (scripts/export_llm.py)"
CP_PARAMS = {"vocab_size": 256, "dim": 64, "n_layers": 2, "n_heads": 4, "hidden_dim": 128, "max_context_len": 64,
             "norm_eps": 1e-5, "rope_theta": 10000.0}
CP_METADATA = {"get_bos_id": 1, "get_eos_ids": [2]}
CP_SEED = 0
CP_PROMPT_LENS = (1, 8, 16, 32)
CP_N_GENERATED = 33  # 32 + 33 - 1 = 64 positions: etbench bench's default for this context (pp32 tg32) is fully checked
# name -> delegate (None: portable kernels)
CP_VARIANTS = {"tiny-kv-cache-position-fp32": None}

# ---- the same decoder as two methods, prefill + decode, sharing one KV cache -------------------------
PD_CONVENTION = "prefill_decode_methods"
PD_REFERENCE = "tiny-kv-cache-position-fp32"  # same weights: its generations must be these ids too
PD_MAX_BYTES = 1_000_000
# name -> delegate (None: portable kernels)
PD_VARIANTS = {"tiny-kv-prefill-decode-fp32": None}
ALL_VARIANTS = (*LLAMA_VARIANTS, *CP_VARIANTS, *PD_VARIANTS)


# ExecuTorch ScalarType codes (runtime/core/portable_type/scalar_type.h) -> dtype names
SCALAR_TYPES = {0: "uint8", 1: "int8", 2: "int16", 3: "int32", 4: "int64", 5: "float16", 6: "float32",
                7: "float64", 11: "bool", 15: "bfloat16"}


class ExportError(Exception):
    """A user-facing error: printed without a traceback, exit code 2."""


# =================================================================================================
# Prompt rule and greedy generation (shared with export_gemma3n.py --kv-cache)
# =================================================================================================

# The generator etbench's Rust side implements: one copy, in export_fixtures.py (the `random:SEED` inputs).
sys.path.insert(0, str(Path(__file__).resolve().parent))
from export_fixtures import splitmix64  # noqa: E402


def prompt_ids(seed: int, n: int, vocab_size: int) -> list[int]:
    return [v % vocab_size for v in splitmix64(seed, n)]


def _self_test_splitmix64():
    got = tuple(splitmix64(0, 3))
    if got != SPLITMIX64_SEED0:
        raise ExportError(f"splitmix64 self-test failed: {[hex(v) for v in got]}")


def first_argmax(row) -> int:
    """Index of the first maximal value of a 1-D float tensor (NaN never wins: finiteness is checked apart)."""
    import torch

    row = row.detach().to(torch.float32).reshape(-1)
    m = row.max()
    return int(torch.nonzero(row == m)[0, 0])


def greedy(step, prompt: list[int], n_gen: int, one_call_prefill: bool, keep_logits: bool = False,
           decode_step=None) -> dict:
    """Greedy generation with a (tokens [1,S] int64, input_pos [1] int64) -> logits step function.

    `step` feeds the prompt (whole, or one token per call); `decode_step` (default: `step`) feeds each generated id:
    prefill_decode_methods programs pass their `prefill` and `decode` methods here.
    Returns {"generated": [ids], "finite": bool, "logits": [last-row float32 tensors] (if keep_logits),
    "min_margin": smallest top-1 minus top-2 logit over the generated steps (how close greedy came to a tie)}."""
    import torch

    finite = True
    kept = []
    margins = []

    def last_row(out):
        nonlocal finite
        row = out.detach().reshape(-1, out.shape[-1])[-1].to(torch.float32).clone()
        if not bool(torch.isfinite(row).all()):
            finite = False
        if keep_logits:
            kept.append(row)
        return row

    def pick(row):
        if row.numel() > 1:
            top = torch.topk(row, 2).values
            margins.append(float(top[0] - top[1]))
        return first_argmax(row)

    if one_call_prefill:
        row = last_row(step(torch.tensor([prompt], dtype=torch.int64), torch.tensor([0], dtype=torch.int64)))
    else:
        for i, t in enumerate(prompt):
            row = last_row(step(torch.tensor([[t]], dtype=torch.int64), torch.tensor([i], dtype=torch.int64)))
    tok = pick(row)
    gen = [tok]
    pos = len(prompt)
    decode = step if decode_step is None else decode_step
    while len(gen) < n_gen:
        row = last_row(decode(torch.tensor([[tok]], dtype=torch.int64), torch.tensor([pos], dtype=torch.int64)))
        pos += 1
        tok = pick(row)
        gen.append(tok)
    return {"generated": gen, "finite": finite, "logits": kept, "min_margin": min(margins) if margins else None}


def load_forward(path: Path):
    """(program, forward Method) through ExecuTorch's Python runtime."""
    from executorch.runtime import Runtime

    program = Runtime.get().load_program(str(path))
    method = program.load_method("forward")
    if method is None:
        raise ExportError(f"{path}: no forward method")
    return program, method


def has_prefill_decode(program) -> bool:
    return {"prefill", "decode"} <= set(program.method_names)


def load_steps(path: Path, convention: str | None = None):
    """(program, prompt Method, decode Method, convention) through ExecuTorch's Python runtime: `prefill` and
    `decode` when the program has both (convention prefill_decode_methods), else `forward` for both (convention
    read from its inputs unless given). The two methods come from ONE Program object: the runtime then gives them
    the same mutable buffers (the KV cache, planned with share_mutable_buffers=True), so decode continues from
    what prefill wrote; methods of two separately loaded programs would each see their own cache."""
    from executorch.runtime import Runtime

    program = Runtime.get().load_program(str(path))
    split = has_prefill_decode(program)
    if convention == PD_CONVENTION and not split:
        raise ExportError(f"{path}: no prefill + decode methods (methods: {', '.join(sorted(program.method_names))})")
    if split and convention in (None, PD_CONVENTION):
        return program, program.load_method("prefill"), program.load_method("decode"), PD_CONVENTION
    method = program.load_method("forward")
    if method is None:
        raise ExportError(f"{path}: no forward method")
    return program, method, method, convention or detect_convention(forward_io(method))


def program_step(method, convention: str = "tokens_input_pos"):
    """A (tokens [1,S], input_pos [1]) -> logits step over a forward (or prefill / decode) Method. For the
    input_ids + cache_position convention the position input becomes cache_position = arange(start, start + S)
    (shape [S]); prefill_decode_methods methods take input_pos [1] as tokens_input_pos ones do."""
    if convention not in CONVENTIONS:
        raise ExportError(f"unknown calling convention {convention!r} (known: {', '.join(CONVENTIONS)})")

    def step(tokens, input_pos):
        if convention == "input_ids_cache_position":
            input_pos = cache_positions(tokens, input_pos)
        outs = method.execute([tokens, input_pos])
        if len(outs) != 1:
            raise ExportError(f"the step method returned {len(outs)} outputs, expected 1 (logits)")
        return outs[0]

    return step


def cache_positions(tokens, input_pos):
    """cache_position [S] int64 for tokens [1, S] starting at input_pos [1]: start, start+1, ..., start+S-1."""
    import torch

    start = int(input_pos.reshape(-1)[0])
    return torch.arange(start, start + tokens.shape[-1], dtype=torch.int64)


def detect_convention(io: dict) -> str:
    """input_ids_cache_position when the position input has one entry per token ([S] with S = the token input's
    last dimension > 1), else tokens_input_pos (the same rule as etbench's recogniser)."""
    ins = io["inputs"]
    if len(ins) == 2 and len(ins[0]["sizes"]) == 2 and len(ins[1]["sizes"]) == 1:
        s = ins[0]["sizes"][-1]
        if s > 1 and ins[1]["sizes"][0] == s:
            return "input_ids_cache_position"
    return "tokens_input_pos"


def constant_methods(program) -> dict:
    """Every method other than forward / prefill / decode, executed with no inputs: name -> value (scalar or list)."""
    out = {}
    for name in sorted(program.method_names):
        if name in STEP_METHODS:
            continue
        vals = program.load_method(name).execute([])
        conv = []
        for v in vals:
            if hasattr(v, "tolist"):
                v = v.tolist()
            conv.append(v)
        if name == "get_eos_ids" or len(conv) != 1:
            out[name] = conv
        else:
            out[name] = conv[0]
    return out


def forward_io(method) -> dict:
    """Input/output sizes (upper bounds for dynamic dims) and dtypes of forward, from its MethodMeta."""
    meta = method.metadata
    info = {"inputs": [], "outputs": []}
    for key, attr_n, fn in (("inputs", "num_inputs", "input_tensor_meta"), ("outputs", "num_outputs", "output_tensor_meta")):
        for i in range(getattr(meta, attr_n)()):
            tm = getattr(meta, fn)(i)
            code = int(tm.dtype())
            info[key].append({"sizes": list(tm.sizes()), "dtype": SCALAR_TYPES.get(code, f"scalar_type_{code}")})
    return info


def pte_structure(path: Path, methods=("forward",)) -> dict:
    """Delegates and non-delegated operators of forward (or of every method in `methods`, summed / merged), read
    from the flatbuffer."""
    from executorch.exir._serialize._program import deserialize_pte_binary

    pp = deserialize_pte_binary(path.read_bytes())
    prog = getattr(pp, "program", pp)
    ops, delegates, found = [], [], set()
    for plan in prog.execution_plan:
        if plan.name in methods:
            found.add(plan.name)
            for op in plan.operators:
                name = f"{op.name}.{op.overload}" if op.overload else op.name
                if name not in ops:
                    ops.append(name)
            delegates += [d.id for d in plan.delegates]
    missing = [m for m in methods if m not in found]
    if missing:
        raise ExportError(f"{path}: no {', '.join(missing)} execution plan")
    return {"delegate_calls": len(delegates), "delegates": sorted(set(delegates)), "ops": sorted(ops)}


def runtime_lib_op_check(ops: list[str]) -> list[str]:
    """Ops not found as strings in the wheel's libexecutorch*.so (the C++ runtime libraries)."""
    import importlib.util

    spec = importlib.util.find_spec("executorch")
    blob = b""
    for loc in list(spec.submodule_search_locations or []) if spec else []:
        for p in sorted((Path(loc) / "lib").glob("libexecutorch*.so")):
            blob += p.read_bytes()
    if not blob:
        LOG.warning("no libexecutorch*.so in the wheel: operator coverage not checked")
        return []
    return [op for op in ops if (op.encode() + b"\0") not in blob]


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def run_generations(step, vocab: int, dynamic: bool, prompt_lens=PROMPT_LENS, seed=PROMPT_SEED,
                    n_gen=N_GENERATED, token_by_token: bool = False, keep_logits: bool = False,
                    decode_step=None) -> list[dict]:
    res = []
    for n in prompt_lens:
        p = prompt_ids(seed, n, vocab)
        g = greedy(step, p, n_gen, one_call_prefill=dynamic and not token_by_token, keep_logits=keep_logits,
                   decode_step=decode_step)
        res.append({"seed": seed, "prompt_len": n, "prompt_ids": p, "generated": g["generated"],
                    "min_top2_margin": round(g["min_margin"], 6) if g["min_margin"] is not None else None,
                    "_finite": g["finite"], "_logits": g["logits"]})
    return res


def public_generations(gens: list[dict]) -> list[dict]:
    return [{k: v for k, v in g.items() if not k.startswith("_")} for g in gens]


def same_ids(a: list[dict], b: list[dict]) -> bool:
    return [g["generated"] for g in a] == [g["generated"] for g in b]


def first_difference(a: list[dict], b: list[dict]) -> str:
    for ga, gb in zip(a, b):
        for i, (x, y) in enumerate(zip(ga["generated"], gb["generated"])):
            if x != y:
                return f"prompt_len {ga['prompt_len']}: step {i}: {x} vs {y}"
    return "none"


def max_logit_diff(a: list[dict], b: list[dict]) -> float:
    """Max |diff| over the kept logits rows of two runs (compared while their ids agree)."""
    m = 0.0
    for ga, gb in zip(a, b):
        for ra, rb in zip(ga["_logits"], gb["_logits"]):
            m = max(m, float((ra.double() - rb.double()).abs().max()))
    return m


def measure_program(path: Path, check_token_by_token: bool = True, keep_logits: bool = False,
                    convention: str = "tokens_input_pos", prompt_lens=PROMPT_LENS, n_gen: int = N_GENERATED) -> dict:
    """Run the recorded generations on a .pte; returns facts for a manifest entry (+ private _gens).

    prefill_decode_methods: the prompt goes to `prefill`, each generated id to `decode`; token-by-token is `prefill`
    with one token per call (what etbench's --prefill-mode token does), and `decode_prompt_equal` also compares
    feeding the prompt to `decode` one token per call. "io" is then prefill's, "methods_io" has both."""
    t0 = time.monotonic()
    program, method, decode_method, _ = load_steps(path, convention)
    split = convention == PD_CONVENTION
    meta = constant_methods(program)
    io = forward_io(method)
    what = "prefill" if split else "forward"
    if len(io["inputs"]) != 2:
        raise ExportError(f"{path}: {what} has {len(io['inputs'])} inputs, expected 2 (tokens, input_pos)")
    tok_sizes = io["inputs"][0]["sizes"]
    vocab = int(meta["get_vocab_size"]) if "get_vocab_size" in meta else int(io["outputs"][0]["sizes"][-1])
    dynamic = bool(meta.get("enable_dynamic_shape", tok_sizes[-1] > 1))
    if not dynamic and tok_sizes[-1] != 1:
        raise ExportError(f"{path}: static program with a token dimension of {tok_sizes[-1]} (expected 1)")
    methods_io = None
    if split:
        methods_io = {"prefill": io, "decode": forward_io(decode_method)}
        for name, mio in methods_io.items():
            if detect_convention(mio) != "tokens_input_pos" or [i["sizes"] for i in mio["inputs"]][1:] != [[1]]:
                raise ExportError(f"{path}: {name} inputs {mio['inputs']}, expected (tokens [1, S], input_pos [1])")
        if methods_io["decode"]["inputs"][0]["sizes"] != [1, 1]:
            raise ExportError(f"{path}: decode tokens {methods_io['decode']['inputs'][0]}, expected [1, 1]")
    elif detect_convention(io) != convention and tok_sizes[-1] > 1:
        raise ExportError(f"{path}: forward inputs {io['inputs']} look like {detect_convention(io)}, expected {convention}")
    step = program_step(method, convention)
    dstep = program_step(decode_method, convention) if split else None
    gens = run_generations(step, vocab, dynamic, prompt_lens=prompt_lens, n_gen=n_gen, keep_logits=keep_logits,
                           decode_step=dstep)
    finite = all(g["_finite"] for g in gens)
    tbt_equal = decode_prompt_equal = None
    if dynamic and check_token_by_token:
        # Same Method object: restarting at input_pos 0 overwrites the cache (stale entries are masked).
        gens_tbt = run_generations(step, vocab, dynamic, prompt_lens=prompt_lens, n_gen=n_gen, token_by_token=True,
                                   decode_step=dstep)
        finite = finite and all(g["_finite"] for g in gens_tbt)
        tbt_equal = same_ids(gens, gens_tbt)
        if not tbt_equal:
            LOG.error("%s: one-call prefill != token-by-token prefill (%s)", path.name, first_difference(gens, gens_tbt))
    if split:
        # The prompt through decode, one token per call: no prefill call at all.
        gens_dec = run_generations(dstep, vocab, False, prompt_lens=prompt_lens, n_gen=n_gen)
        finite = finite and all(g["_finite"] for g in gens_dec)
        decode_prompt_equal = same_ids(gens, gens_dec)
        if not decode_prompt_equal:
            LOG.error("%s: one-call prefill != prompt through decode (%s)", path.name, first_difference(gens, gens_dec))
    struct_ = pte_structure(path, ("prefill", "decode") if split else ("forward",))
    missing = runtime_lib_op_check(struct_["ops"])
    if missing:
        LOG.warning("%s: operators not found in the wheel's C++ runtime libraries: %s", path.name, missing)
    LOG.info("%s: vocab %d, dynamic %s, %d delegate call(s), generations in %.1fs", path.name, vocab, dynamic,
             struct_["delegate_calls"], time.monotonic() - t0)
    return {"metadata": meta, "io": io, "methods_io": methods_io, "vocab": vocab, "dynamic": dynamic,
            "convention": convention, "structure": struct_, "ops_missing_from_runtime_libs": missing, "finite": finite,
            "tbt_equal": tbt_equal, "decode_prompt_equal": decode_prompt_equal, "_gens": gens}


# =================================================================================================
# Manifest
# =================================================================================================

def versions() -> dict:
    import importlib.metadata as md

    return {p: md.version(p) for p in ("torch", "executorch", "torchao", "transformers")}


def read_manifest(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError as e:
        raise ExportError(f"{path}: not valid JSON: {e}") from e


def write_manifest(out_dir: Path, family: str, entries: list[dict], extra_top: dict | None = None) -> Path:
    """Replace every variant of `family` in out_dir/manifest-llm.json by `entries` (others are kept)."""
    path = out_dir / MANIFEST_NAME
    old = read_manifest(path) or {}
    kept = [v for v in old.get("variants", []) if v.get("family") != family]
    variants = kept + entries
    variants.sort(key=lambda v: (FAMILY_ORDER.index(v["family"]) if v.get("family") in FAMILY_ORDER else 99))
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "generator": GENERATOR,
        "versions": versions(),
        "prompt_rule": PROMPT_RULE,
        "splitmix64": ("state += 0x9E3779B97F4A7C15; z = state; z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9; "
                       "z = (z ^ (z >> 27)) * 0x94D049BB133111EB; value = z ^ (z >> 31) (wrapping u64); "
                       "seed 0 -> 0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F"),
        "argmax_tie_break": TIE_BREAK,
        "generation": {
            "prompt_seed": PROMPT_SEED, "prompt_lens": list(PROMPT_LENS), "n_generated": N_GENERATED,
            "vocab_size": "the program's get_vocab_size",
            "prefill": "dynamic token dim: whole prompt in one call at input_pos=[0]; static: one token per call at input_pos=[i]",
            "decode": "feed each generated id at input_pos=[pos] (pos = prompt_len, prompt_len+1, ...), one per call; continues past EOS",
            "first_generated": "argmax of the prefill's logits (last position)",
        "min_top2_margin": ("per generation: the smallest (top-1 - top-2) logit gap over its steps, from the Python "
                            "runtime; a tiny margin means a platform with different float rounding could pick "
                            "another id there (informational; --check compares ids only)"),
        },
        "variants": variants,
    }
    for k, v in (old.items() if old else []):
        if k.startswith("x_") and k not in manifest:
            manifest[k] = v
    if extra_top:
        manifest.update(extra_top)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(dump_json(manifest) + "\n")
    os.replace(tmp, path)
    LOG.info("wrote %s (%d variant(s))", path, len(variants))
    return path


def dump_json(obj, indent: int = 0) -> str:
    """JSON with 1-space indentation, but lists of scalars (ids, sizes) kept on one line."""
    pad, pad1 = " " * indent, " " * (indent + 1)
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        items = [f"{pad1}{json.dumps(str(k))}: {dump_json(v, indent + 1)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, (list, tuple)):
        if all(not isinstance(x, (dict, list, tuple)) for x in obj):
            return json.dumps(list(obj), separators=(", ", ": "))
        return "[\n" + ",\n".join(pad1 + dump_json(x, indent + 1) for x in obj) + "\n" + pad + "]"
    return json.dumps(obj)


def variant_entry(name: str, path: Path, m: dict, *, family: str, exporter: str, delegate, weight_dtype: str,
                  quantization: str, kv_cache: dict, checked: dict, extra: dict | None = None,
                  convention: str = "tokens_input_pos") -> dict:
    e = {
        "name": name,
        "file": path.name,
        "sha256": sha256_file(path),
        "size_bytes": path.stat().st_size,
        "family": family,
        "exporter": exporter,
        "convention": convention,
        "dynamic_shape": m["dynamic"],
        "delegate": delegate,
        "weight_dtype": weight_dtype,
        "quantization": quantization,
        "metadata": m["metadata"],
        # prefill_decode_methods programs have no forward: "methods" lists prefill's and decode's inputs/outputs.
        "forward": None if m.get("methods_io") else m["io"],
        **({"methods": m["methods_io"]} if m.get("methods_io") else {}),
        "delegate_calls": m["structure"]["delegate_calls"],
        "ops": m["structure"]["ops"],
        "ops_missing_from_runtime_libs": m["ops_missing_from_runtime_libs"],
        "kv_cache": kv_cache,
        "generations": public_generations(m["_gens"]),
        "checked": checked,
    }
    if extra:
        e.update(extra)
    return e


# =================================================================================================
# --check
# =================================================================================================

def check_manifest(manifest_path: Path, names: list[str] | None = None) -> int:
    t0 = time.monotonic()
    _self_test_splitmix64()
    man = read_manifest(manifest_path)
    if man is None:
        raise ExportError(f"{manifest_path} does not exist")
    problems = []
    if man.get("schema_version") != SCHEMA_VERSION:
        problems.append(f"schema_version {man.get('schema_version')} != {SCHEMA_VERSION}")
    if man.get("prompt_rule") != PROMPT_RULE:
        problems.append(f"prompt_rule {man.get('prompt_rule')!r} != {PROMPT_RULE!r}")
    have = versions()
    for k, v in (man.get("versions") or {}).items():
        if have.get(k) != v:
            LOG.warning("--check: %s is %s here, the manifest was made with %s", k, have.get(k), v)
    variants = man.get("variants") or []
    if names:
        unknown = set(names) - {v["name"] for v in variants}
        if unknown:
            raise ExportError(f"--variants: not in {manifest_path}: {sorted(unknown)}")
        variants = [v for v in variants if v["name"] in names]
    for v in variants:
        t1 = time.monotonic()
        path = manifest_path.parent / v["file"]
        if not path.is_file():
            problems.append(f"{v['name']}: {path} is missing")
            continue
        digest = sha256_file(path)
        if digest != v["sha256"]:
            problems.append(f"{v['name']}: sha256 of {path} is {digest}, manifest says {v['sha256']}")
            continue
        if path.stat().st_size != v["size_bytes"]:
            problems.append(f"{v['name']}: size {path.stat().st_size} != {v['size_bytes']}")
        dynamic = bool(v["dynamic_shape"])
        convention = v.get("convention", "tokens_input_pos")
        if convention not in CONVENTIONS:
            problems.append(f"{v['name']}: unknown convention {convention!r}")
            continue
        split = convention == PD_CONVENTION
        # prefill_decode_methods: prefill + decode from one Program object (shared KV cache); others: forward.
        program, method, decode_method, _ = load_steps(path, convention)
        meta = constant_methods(program)
        if meta != v["metadata"]:
            problems.append(f"{v['name']}: constant methods {meta} != manifest {v['metadata']}")
        io = forward_io(method)
        vocab = int(meta["get_vocab_size"]) if "get_vocab_size" in meta else int(io["outputs"][0]["sizes"][-1])
        if split:
            got = {"prefill": io, "decode": forward_io(decode_method)}
            if v.get("methods") is not None and got != v["methods"]:
                problems.append(f"{v['name']}: prefill/decode inputs and outputs {got} != manifest {v['methods']}")
                continue
        elif io["inputs"][0]["sizes"][-1] > 1 and detect_convention(io) != convention:
            problems.append(f"{v['name']}: forward inputs {io['inputs']} are {detect_convention(io)}, manifest says {convention}")
            continue
        step = program_step(method, convention)
        dstep = program_step(decode_method, convention)
        # (label, prompt step, whole prompt in one call, decode step); the first is how the generations were made.
        modes = [("", step, dynamic, dstep)]
        if split:
            # prefill one token per call (the runner's token mode), and the prompt through decode (no prefill call).
            modes += [(" (prefill one token per call)", step, False, dstep), (" (prompt through decode)", dstep, False, dstep)]
        elif dynamic and convention == "input_ids_cache_position":
            # cache_position programs: also prefill one token per call (cache_position [i]), the runner's token mode.
            modes.append((" (token-by-token prefill)", step, False, dstep))
        n_bad = 0
        for g in v["generations"]:
            p = prompt_ids(g["seed"], g["prompt_len"], vocab)
            if p != g["prompt_ids"]:
                problems.append(f"{v['name']}: prompt ids for seed {g['seed']} len {g['prompt_len']} differ from the manifest")
                n_bad += 1
                continue
            for how, prompt_step, one_call, decode_step in modes:
                r = greedy(prompt_step, p, len(g["generated"]), one_call_prefill=one_call, decode_step=decode_step)
                if r["generated"] != g["generated"]:
                    i = next(i for i, (a, b) in enumerate(zip(r["generated"], g["generated"])) if a != b)
                    problems.append(f"{v['name']}: seed {g['seed']} prompt_len {g['prompt_len']}{how}: generated id {i} "
                                    f"is {r['generated'][i]}, manifest says {g['generated'][i]}")
                    n_bad += 1
                if not r["finite"]:
                    problems.append(f"{v['name']}: seed {g['seed']} prompt_len {g['prompt_len']}{how}: non-finite logits")
                    n_bad += 1
        LOG.info("--check: %-34s %s (%d generation(s), %.1fs)", v["name"], "ok" if n_bad == 0 else "MISMATCH",
                 len(v["generations"]), time.monotonic() - t1)
    if problems:
        for p in problems:
            LOG.error("--check: %s", p)
        LOG.error("--check FAILED against %s (%d problem(s)) in %.1fs", manifest_path, len(problems), time.monotonic() - t0)
        return 1
    LOG.info("--check OK: %d variant(s) of %s in %.1fs", len(variants), manifest_path, time.monotonic() - t0)
    return 0


# =================================================================================================
# Tiny Llama via export_llama
# =================================================================================================

def llama_model_args(dynamic: bool = True):
    from executorch.examples.models.llama.model_args import ModelArgs

    return ModelArgs(max_seq_len=LLAMA_MAX_SEQ_LEN, max_context_len=LLAMA_MAX_CONTEXT_LEN, max_batch_size=1,
                     use_kv_cache=True, enable_dynamic_shape=dynamic, **LLAMA_PARAMS)


def llama_random_state(seed: int) -> dict:
    """Seeded random weights (export_llama would leave all weights zero without a checkpoint):
    linear weights N(0, 1/in_features), token embedding N(0, 1), RMSNorm weights 1 + N(0, 0.05^2)."""
    import torch
    from executorch.examples.models.llama.llama_transformer import construct_transformer

    model = construct_transformer(llama_model_args())
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for name, p in sorted(model.named_parameters(), key=lambda kv: kv[0]):
        if p.dim() == 1:
            t = 1.0 + 0.05 * torch.randn(p.shape, generator=gen)
        elif name == "tok_embeddings.weight":
            t = torch.randn(p.shape, generator=gen)
        else:
            t = torch.randn(p.shape, generator=gen) / (p.shape[1] ** 0.5)
        state[name] = t.to(torch.float32).contiguous()
    return state


def llama_eager(state: dict, dynamic: bool = True):
    import torch
    from executorch.examples.models.llama.llama_transformer import construct_transformer

    model = construct_transformer(llama_model_args(dynamic))
    missing, unexpected = model.load_state_dict(state, strict=False)
    bad = [k for k in missing if k.endswith(".weight")]
    if bad or unexpected:
        raise ExportError(f"eager llama: missing {bad}, unexpected {unexpected}")
    model.eval()

    def step(tokens, input_pos):
        with torch.no_grad():
            out = model(tokens, {"input_pos": input_pos})
        return out[0] if isinstance(out, tuple) else out

    return model, step


def kv_cache_info(model) -> dict:
    bufs = [(n, b) for n, b in model.named_buffers() if n.endswith("k_cache") or n.endswith("v_cache")]
    if not bufs:
        return {"buffers": 0, "bytes": 0, "shape": None, "dtype": None}
    shapes = {tuple(b.shape) for _, b in bufs}
    dtypes = {str(b.dtype).replace("torch.", "") for _, b in bufs}
    return {
        "buffers": len(bufs),
        "bytes": sum(b.numel() * b.element_size() for _, b in bufs),
        "shape": list(next(iter(shapes))) if len(shapes) == 1 else sorted(list(s) for s in shapes),
        "dtype": next(iter(dtypes)) if len(dtypes) == 1 else sorted(dtypes),
        "layout": "[batch, n_kv_heads, max_context_len, head_dim], one k_cache and one v_cache per layer",
    }


def llama_command(ckpt: Path, params: Path, out_path: Path, flags: list[str]) -> list[str]:
    return [sys.executable, "-m", LLAMA_EXPORTER, "--model", "llama3", "-c", str(ckpt), "-p", str(params), "-kv",
            "--max_seq_length", str(LLAMA_MAX_SEQ_LEN), "--max_context_length", str(LLAMA_MAX_CONTEXT_LEN),
            "-d", "fp32", "--metadata", json.dumps(LLAMA_METADATA, separators=(",", ":")),
            "-o", str(out_path.parent), "-n", str(out_path), *flags]


def display_command(flags: list[str], name: str) -> str:
    return (f"python -m {LLAMA_EXPORTER} --model llama3 -c ckpt.pth -p params.json -kv --max_seq_length "
            f"{LLAMA_MAX_SEQ_LEN} --max_context_length {LLAMA_MAX_CONTEXT_LEN} -d fp32 --metadata "
            f"'{json.dumps(LLAMA_METADATA, separators=(',', ':'))}' -n {name}.pte {' '.join(flags)}").strip()


def export_llama_variants(names: list[str], work: Path, out_dir: Path, jobs: int) -> dict:
    """Run export_llama (one subprocess per variant, `jobs` at a time); returns name -> seconds."""
    import torch

    state = llama_random_state(LLAMA_SEED)
    ckpt = work / "ckpt.pth"
    torch.save(state, ckpt)
    params = work / "params.json"
    params.write_text(json.dumps(LLAMA_PARAMS))
    LOG.info("checkpoint %s (%d tensors, %.2f MB), params %s", ckpt, len(state), ckpt.stat().st_size / 1e6, LLAMA_PARAMS)
    env = dict(os.environ, PYTHONHASHSEED="0")
    pending = list(names)
    running = {}
    secs = {}
    failed = []
    while pending or running:
        while pending and len(running) < jobs:
            name = pending.pop(0)
            flags = LLAMA_VARIANTS[name][0]
            tmp_out = work / f"{name}.pte"
            cmd = llama_command(ckpt, params, tmp_out, flags)
            log = open(work / f"{name}.log", "w")
            LOG.info("[%s] %s", name, display_command(flags, name))
            running[name] = (subprocess.Popen(cmd, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT), log,
                             time.monotonic(), tmp_out)
        time.sleep(0.5)
        for name, (proc, log, t0, tmp_out) in list(running.items()):
            if proc.poll() is None:
                continue
            log.close()
            del running[name]
            secs[name] = time.monotonic() - t0
            if proc.returncode != 0 or not tmp_out.is_file():
                tail = (work / f"{name}.log").read_text(errors="replace").splitlines()[-30:]
                LOG.error("[%s] export_llama failed (exit %s); last lines:\n%s", name, proc.returncode, "\n".join(tail))
                failed.append(name)
                continue
            dest = out_dir / f"{name}.pte"
            shutil.copyfile(tmp_out, dest.with_suffix(".pte.tmp"))
            os.replace(dest.with_suffix(".pte.tmp"), dest)
            LOG.info("[%s] wrote %s (%.2f MB) in %.1fs", name, dest, dest.stat().st_size / 1e6, secs[name])
    if failed:
        raise ExportError(f"export_llama failed for {failed} (logs in {work})")
    return secs


def llama_manifest(names: list[str], out_dir: Path, secs: dict | None) -> list[dict]:
    state = llama_random_state(LLAMA_SEED)
    measured = {}
    for name in names:
        path = out_dir / f"{name}.pte"
        if not path.is_file():
            raise ExportError(f"{path} does not exist (export it first)")
        measured[name] = measure_program(path, keep_logits=True)
    # Eager reference: the same weights in ExecuTorch's eager Transformer (KV cache as buffers).
    eager_model, eager_step = llama_eager(state, dynamic=True)
    kv = kv_cache_info(eager_model)
    eager_gens = run_generations(eager_step, LLAMA_PARAMS["vocab_size"], True, keep_logits=True)
    _, eager_step_static = llama_eager(state, dynamic=False)
    eager_gens_tbt = run_generations(eager_step_static, LLAMA_PARAMS["vocab_size"], False, keep_logits=True)
    if not same_ids(eager_gens, eager_gens_tbt):
        LOG.warning("eager llama: one-call prefill != token-by-token (%s)", first_difference(eager_gens, eager_gens_tbt))
    entries = []
    dyn = next((n for n in names if LLAMA_VARIANTS[n][1]), None)
    for name in names:
        flags, dynamic, delegate = LLAMA_VARIANTS[name]
        m = measured[name]
        size = (out_dir / f"{name}.pte").stat().st_size
        if size > LLAMA_MAX_BYTES:
            LOG.warning("%s is %d bytes (> %d)", name, size, LLAMA_MAX_BYTES)
        if m["dynamic"] != dynamic:
            raise ExportError(f"{name}: enable_dynamic_shape is {m['dynamic']}, expected {dynamic}")
        got_delegates = m["structure"]["delegates"]
        if (delegate is None) != (not got_delegates):
            raise ExportError(f"{name}: delegates {got_delegates}, expected {delegate}")
        static_eq = None
        others = [n for n in names if n != name and LLAMA_VARIANTS[n][1] != dynamic]
        if others:
            static_eq = all(same_ids(m["_gens"], measured[o]["_gens"]) for o in others)
            if not static_eq:
                LOG.error("%s: static and dynamic programs disagree: %s", name,
                          "; ".join(f"{o}: {first_difference(m['_gens'], measured[o]['_gens'])}" for o in others))
        # Eager reference with the same prefill mode (its logits rows line up with the program's).
        ref = eager_gens if dynamic else eager_gens_tbt
        eager_eq = same_ids(m["_gens"], ref)
        diff = max_logit_diff(m["_gens"], ref) if eager_eq else None
        if not eager_eq:
            LOG.error("%s: program != eager (%s)", name, first_difference(m["_gens"], ref))
        same_as = [o for o in names if o != name and same_ids(m["_gens"], measured[o]["_gens"])]
        LOG.info("%s: finite %s, one-call==token-by-token %s, static==dynamic %s, eager==program %s "
                 "(max |logit diff| %s), identical generations to %s", name, m["finite"], m["tbt_equal"], static_eq,
                 eager_eq, f"{diff:.3g}" if diff is not None else "-", same_as)
        extra = {
            "export_command": display_command(flags, name),
            "model": {"params": LLAMA_PARAMS, "max_seq_length": LLAMA_MAX_SEQ_LEN,
                      "max_context_length": LLAMA_MAX_CONTEXT_LEN, "checkpoint_seed": LLAMA_SEED,
                      "init": "linear weights N(0, 1/in_features), tok_embeddings N(0, 1), norms 1 + N(0, 0.05^2); "
                              "torch.Generator seeded, parameters in sorted name order"},
            "max_abs_logit_diff_vs_eager": diff,
            "identical_generations_to": same_as,
        }
        if secs and name in secs:
            extra["export_seconds"] = round(secs[name], 1)
        checked = {
            "one_call_prefill_equals_token_by_token": m["tbt_equal"],
            "static_equals_dynamic": static_eq,
            "finite": m["finite"],
            "eager_equals_program": eager_eq,
        }
        entries.append(variant_entry(name, out_dir / f"{name}.pte", m, family="llama", exporter=LLAMA_EXPORTER,
                                     delegate=delegate, weight_dtype="float32", quantization="none",
                                     kv_cache=kv, checked=checked, extra=extra))
        if not (m["finite"] and m["tbt_equal"] in (True, None) and static_eq in (True, None) and eager_eq):
            LOG.error("%s: a check FAILED (recorded in the manifest)", name)
    return entries


# =================================================================================================
# Hand-written decoder: forward(input_ids [1, S], cache_position [S]) -> logits [1, S, vocab]
# =================================================================================================

def cp_constant_methods() -> dict:
    """Constant metadata methods, as export_llama writes them (+ the --metadata ones)."""
    c = CP_PARAMS["max_context_len"]
    return {"get_max_seq_len": c, "get_max_context_len": c, "get_vocab_size": CP_PARAMS["vocab_size"],
            "get_n_layers": CP_PARAMS["n_layers"], "use_kv_cache": True, "use_sdpa_with_kv_cache": False,
            "enable_dynamic_shape": True, **CP_METADATA}


def cp_model(seed: int = CP_SEED):
    """The decoder in eval mode with seeded weights (linear N(0, 1/in_features), embedding N(0, 1), norms
    1 + N(0, 0.05^2), drawn in sorted parameter-name order) and zeroed caches.

    embedding -> n_layers x (RMSNorm, attention with RoPE and a static KV cache, RMSNorm, SwiGLU MLP) -> RMSNorm ->
    lm_head. Each attention keeps k_cache / v_cache buffers [1, n_heads, max_ctx, head_dim], writes the new keys and
    values at cache_position with index_copy_, and attends over the whole cache with a mask letting position p see
    slots <= p (stale slots past p from an earlier, longer sequence are masked: restarting at 0 needs no reset)."""
    import torch
    from torch import nn

    P = CP_PARAMS
    dim, n_heads, ctx = P["dim"], P["n_heads"], P["max_context_len"]
    head_dim = dim // n_heads

    class RMSNorm(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(dim))

        def forward(self, x):
            return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + P["norm_eps"]) * self.weight

    def rope(x, cos, sin):  # x [1, H, S, hd]; cos/sin [S, hd/2]
        x1, x2 = x[..., : head_dim // 2], x[..., head_dim // 2:]
        return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)

    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            self.wq, self.wk, self.wv, self.wo = (nn.Linear(dim, dim, bias=False) for _ in range(4))
            self.register_buffer("k_cache", torch.zeros(1, n_heads, ctx, head_dim))
            self.register_buffer("v_cache", torch.zeros(1, n_heads, ctx, head_dim))

        def forward(self, x, cache_position, cos, sin, mask):
            s = x.shape[1]
            q, k, v = (w(x).view(1, s, n_heads, head_dim).transpose(1, 2) for w in (self.wq, self.wk, self.wv))
            q, k = rope(q, cos, sin), rope(k, cos, sin)
            self.k_cache.index_copy_(2, cache_position, k)
            self.v_cache.index_copy_(2, cache_position, v)
            scores = torch.matmul(q, self.k_cache.transpose(2, 3)) * (head_dim ** -0.5) + mask  # [1, H, S, ctx]
            out = torch.matmul(torch.softmax(scores, dim=-1), self.v_cache)
            return self.wo(out.transpose(1, 2).reshape(1, s, dim))

    class FeedForward(nn.Module):
        def __init__(self):
            super().__init__()
            self.w1 = nn.Linear(dim, P["hidden_dim"], bias=False)
            self.w2 = nn.Linear(P["hidden_dim"], dim, bias=False)
            self.w3 = nn.Linear(dim, P["hidden_dim"], bias=False)

        def forward(self, x):
            return self.w2(nn.functional.silu(self.w1(x)) * self.w3(x))

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.attention_norm, self.attention = RMSNorm(), Attention()
            self.ffn_norm, self.feed_forward = RMSNorm(), FeedForward()

        def forward(self, x, cache_position, cos, sin, mask):
            x = x + self.attention(self.attention_norm(x), cache_position, cos, sin, mask)
            return x + self.feed_forward(self.ffn_norm(x))

    class CachePositionDecoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok_embeddings = nn.Embedding(P["vocab_size"], dim)
            self.layers = nn.ModuleList(Block() for _ in range(P["n_layers"]))
            self.norm = RMSNorm()
            self.output = nn.Linear(dim, P["vocab_size"], bias=False)
            inv_freq = 1.0 / (P["rope_theta"] ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
            self.register_buffer("inv_freq", inv_freq, persistent=False)
            self.register_buffer("slots", torch.arange(ctx, dtype=torch.int64), persistent=False)

        def forward(self, input_ids, cache_position):
            x = self.tok_embeddings(input_ids)
            angles = cache_position.to(torch.float32).unsqueeze(1) * self.inv_freq.unsqueeze(0)  # [S, hd/2]
            cos, sin = torch.cos(angles), torch.sin(angles)
            mask = torch.where(self.slots.unsqueeze(0) <= cache_position.unsqueeze(1), 0.0, float("-inf"))  # [S, ctx]
            for layer in self.layers:
                x = layer(x, cache_position, cos, sin, mask)
            return self.output(self.norm(x))  # [1, S, vocab]

    model = CachePositionDecoder()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters(), key=lambda kv: kv[0]):
            if p.dim() == 1:
                p.copy_(1.0 + 0.05 * torch.randn(p.shape, generator=gen))
            elif name == "tok_embeddings.weight":
                p.copy_(torch.randn(p.shape, generator=gen))
            else:
                p.copy_(torch.randn(p.shape, generator=gen) / (p.shape[1] ** 0.5))
    return model.eval()


def cp_eager_step(model):
    """The same step greedy() uses for programs, on the eager model (input_pos [1] -> cache_position [S])."""
    import torch

    def step(tokens, input_pos):
        with torch.no_grad():
            return model(tokens, cache_positions(tokens, input_pos))

    return step


def cp_export(name: str, out_dir: Path) -> float:
    """torch.export (dynamic S shared by input_ids dim 1 and cache_position dim 0) -> edge -> ExecuTorch; seconds."""
    import warnings

    import torch
    from executorch.exir import ExecutorchBackendConfig, to_edge_transform_and_lower
    from torch.export import Dim

    t0 = time.monotonic()
    delegate = CP_VARIANTS[name]
    if delegate is not None:
        raise ExportError(f"{name}: delegate {delegate} not supported")
    model = cp_model()
    ctx = CP_PARAMS["max_context_len"]
    seq = Dim("seq_len", min=1, max=ctx - 1)
    example = (torch.zeros(1, 4, dtype=torch.int64), torch.arange(4, dtype=torch.int64))
    with torch.no_grad():
        ep = torch.export.export(model, example, dynamic_shapes=({1: seq}, {0: seq}), strict=True)
    # Default EdgeCompileConfig: the edge IR validity check passes (no need for _check_ir_validity=False).
    edge = to_edge_transform_and_lower(ep, constant_methods=cp_constant_methods())
    # (torch 2.14's export keeps index_copy_ in place; the edge program's signature lists the mutations.)
    mutated = sorted(edge.exported_program().graph_signature.buffers_to_mutate.values())
    want = sorted(f"layers.{i}.attention.{b}_cache" for i in range(CP_PARAMS["n_layers"]) for b in "kv")
    if mutated != want:
        raise ExportError(f"{name}: mutated buffers {mutated}, expected the KV caches {want}")
    LOG.info("[%s] mutable buffers (KV cache, state between calls): %s", name, mutated)
    with warnings.catch_warnings():
        # "Mutation on a buffer in the model is detected ... meaningless initial state": expected, the KV cache.
        warnings.filterwarnings("ignore", message="Mutation on a buffer")
        prog = edge.to_executorch(ExecutorchBackendConfig())
    return write_program(prog, out_dir, name, t0)


def write_program(prog, out_dir: Path, name: str, t0: float) -> float:
    """Writes `out_dir/name.pte` atomically (temp file + rename); returns the seconds since `t0`."""
    dest = out_dir / f"{name}.pte"
    tmp = dest.with_suffix(".pte.tmp")
    tmp.write_bytes(prog.buffer)
    os.replace(tmp, dest)
    secs = time.monotonic() - t0
    LOG.info("[%s] wrote %s (%.2f MB) in %.1fs", name, dest, dest.stat().st_size / 1e6, secs)
    return secs


def cp_manifest(names: list[str], out_dir: Path) -> list[dict]:
    lens, n_gen = CP_PROMPT_LENS, CP_N_GENERATED
    need = max(lens) + n_gen - 1
    if need > CP_PARAMS["max_context_len"]:
        raise ExportError(f"prompt {max(lens)} + {n_gen} generated ids need {need} positions > max context")
    vocab = CP_PARAMS["vocab_size"]
    eager = cp_model()
    eager_step = cp_eager_step(eager)
    eager_gens = run_generations(eager_step, vocab, True, prompt_lens=lens, n_gen=n_gen, keep_logits=True)
    eager_gens_tbt = run_generations(eager_step, vocab, True, prompt_lens=lens, n_gen=n_gen, token_by_token=True)
    eager_tbt = same_ids(eager_gens, eager_gens_tbt)
    if not eager_tbt:
        LOG.error("eager decoder: one-call prefill != token-by-token (%s)", first_difference(eager_gens, eager_gens_tbt))
    kv = kv_cache_info(eager)
    kv["layout"] = "[batch, n_heads, max_context_len, head_dim], one k_cache and one v_cache per layer"
    entries = []
    for name in names:
        path = out_dir / f"{name}.pte"
        if not path.is_file():
            raise ExportError(f"{path} does not exist (export it first)")
        delegate = CP_VARIANTS[name]
        m = measure_program(path, keep_logits=True, convention="input_ids_cache_position", prompt_lens=lens,
                            n_gen=n_gen)
        size = path.stat().st_size
        if size > LLAMA_MAX_BYTES:
            LOG.warning("%s is %d bytes (> %d)", name, size, LLAMA_MAX_BYTES)
        if m["metadata"] != cp_constant_methods():
            raise ExportError(f"{name}: constant methods {m['metadata']} != {cp_constant_methods()}")
        if m["io"]["outputs"][0]["sizes"] != [1, CP_PARAMS["max_context_len"] - 1, vocab]:
            raise ExportError(f"{name}: logits {m['io']['outputs'][0]} (expected [1, S, {vocab}])")
        if bool(m["structure"]["delegates"]) != (delegate is not None):
            raise ExportError(f"{name}: delegates {m['structure']['delegates']}, expected {delegate}")
        eager_eq = same_ids(m["_gens"], eager_gens)
        diff = max_logit_diff(m["_gens"], eager_gens) if eager_eq else None
        if not eager_eq:
            LOG.error("%s: program != eager (%s)", name, first_difference(m["_gens"], eager_gens))
        LOG.info("%s: finite %s, one-call==token-by-token %s (eager %s), eager==program %s (max |logit diff| %s)",
                 name, m["finite"], m["tbt_equal"], eager_tbt, eager_eq, f"{diff:.3g}" if diff is not None else "-")
        extra = {
            "export_command": f"python scripts/export_llm.py --variants {name}",
            "note": ("hand-written torch.nn decoder in the transformers / optimum-executorch calling convention: "
                     "forward(input_ids int64[1, S], cache_position int64[S]) -> logits float32[1, S, vocab] for every "
                     "position (the last row gives the next id); generations feed cache_position = "
                     "arange(pos, pos + S) where tokens_input_pos programs get input_pos = [pos]; prompt lengths "
                     f"{list(lens)} with {n_gen} generated ids (max context {CP_PARAMS['max_context_len']})"),
            "model": {"params": CP_PARAMS, "seed": CP_SEED,
                      "architecture": "embedding -> layers of (RMSNorm, MHA with RoPE + static KV cache written by "
                                      "index_copy_ at cache_position, causal mask over the cache, RMSNorm, SwiGLU MLP) "
                                      "-> RMSNorm -> lm_head (untied)",
                      "init": "linear weights N(0, 1/in_features), tok_embeddings N(0, 1), norms 1 + N(0, 0.05^2); "
                              "torch.Generator seeded, parameters in sorted name order"},
            "max_abs_logit_diff_vs_eager": diff,
        }
        # No export_seconds (logged by cp_export): the entry stays byte-identical when re-exported or re-measured.
        checked = {
            "one_call_prefill_equals_token_by_token": m["tbt_equal"],
            "static_equals_dynamic": None,
            "finite": m["finite"],
            "eager_equals_program": eager_eq,
        }
        entries.append(variant_entry(name, path, m, family=CP_FAMILY, exporter=CP_EXPORTER, delegate=delegate,
                                     weight_dtype="float32", quantization="none", kv_cache=kv, checked=checked,
                                     extra=extra, convention="input_ids_cache_position"))
        if not (m["finite"] and m["tbt_equal"] and eager_eq and eager_tbt):
            LOG.error("%s: a check FAILED (recorded in the manifest)", name)
    return entries


# =================================================================================================
# The same decoder as prefill(tokens [1, S], input_pos [1]) + decode(tokens [1, 1], input_pos [1]) -> logits [1, vocab]
# =================================================================================================

def pd_wrap(decoder):
    """The cache_position decoder behind a (tokens [1, S], input_pos [1]) -> last-position logits [1, vocab]
    forward: cache_position = input_pos + arange(S). Exported twice (dynamic S as `prefill`, S = 1 as `decode`)."""
    import torch

    class LastLogits(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, tokens, input_pos):
            cache_position = input_pos + torch.arange(tokens.shape[1], dtype=torch.int64)
            return self.inner(tokens, cache_position)[:, -1, :]

    return LastLogits(decoder).eval()


def pd_eager_step(model):
    import torch

    def step(tokens, input_pos):
        with torch.no_grad():
            return model(tokens, input_pos)

    return step


def pd_export(name: str, out_dir: Path) -> float:
    """torch.export of the wrapped decoder twice (prefill: dynamic token dim 1..max_ctx-1; decode: [1, 1]) ->
    one edge program with two methods -> ExecuTorch with the mutable buffers (KV caches) planned once and shared
    by both methods (MemoryPlanningPass(share_mutable_buffers=True) + emit_mutable_buffer_names=True); seconds."""
    import warnings

    import torch
    from executorch.exir import ExecutorchBackendConfig, to_edge_transform_and_lower
    from executorch.exir.passes import MemoryPlanningPass
    from torch.export import Dim

    t0 = time.monotonic()
    delegate = PD_VARIANTS[name]
    if delegate is not None:
        raise ExportError(f"{name}: delegate {delegate} not supported")
    model = pd_wrap(cp_model())
    seq = Dim("token_dim", min=1, max=CP_PARAMS["max_context_len"] - 1)
    pos0 = torch.tensor([0], dtype=torch.int64)
    with torch.no_grad():
        ep_prefill = torch.export.export(model, (torch.zeros(1, 4, dtype=torch.int64), pos0),
                                         dynamic_shapes=({1: seq}, None), strict=True)
        ep_decode = torch.export.export(model, (torch.zeros(1, 1, dtype=torch.int64), pos0), strict=True)
    # Default EdgeCompileConfig: the edge IR validity check passes (same bytes as with _check_ir_validity=False).
    edge = to_edge_transform_and_lower({"prefill": ep_prefill, "decode": ep_decode},
                                       constant_methods=cp_constant_methods())
    want = sorted(f"inner.layers.{i}.attention.{b}_cache" for i in range(CP_PARAMS["n_layers"]) for b in "kv")
    for method in ("prefill", "decode"):
        mutated = sorted(edge.exported_program(method).graph_signature.buffers_to_mutate.values())
        if mutated != want:
            raise ExportError(f"{name}: {method} mutates {mutated}, expected the KV caches {want}")
    LOG.info("[%s] mutable buffers (KV cache, shared by prefill and decode): %s", name, want)
    config = ExecutorchBackendConfig(memory_planning_pass=MemoryPlanningPass(share_mutable_buffers=True),
                                     emit_mutable_buffer_names=True)
    with warnings.catch_warnings():
        # "Mutation on a buffer in the model is detected ... meaningless initial state": expected, the KV cache.
        warnings.filterwarnings("ignore", message="Mutation on a buffer")
        prog = edge.to_executorch(config)
    for plan in prog.executorch_program.execution_plan:
        if plan.name in ("prefill", "decode"):
            LOG.info("[%s] %s: planned memory arenas %s bytes", name, plan.name, list(plan.non_const_buffer_sizes))
    return write_program(prog, out_dir, name, t0)


def pd_manifest(names: list[str], out_dir: Path) -> list[dict]:
    lens, n_gen = CP_PROMPT_LENS, CP_N_GENERATED
    vocab = CP_PARAMS["vocab_size"]
    eager = pd_wrap(cp_model())
    eager_gens = run_generations(pd_eager_step(eager), vocab, True, prompt_lens=lens, n_gen=n_gen, keep_logits=True)
    # The cache_position program of the same weights: run it when it is there, else its manifest entry.
    ref_path = out_dir / f"{PD_REFERENCE}.pte"
    ref_entry = next((v for v in (read_manifest(out_dir / MANIFEST_NAME) or {}).get("variants", [])
                      if v["name"] == PD_REFERENCE), None)
    if ref_path.is_file():
        ref = measure_program(ref_path, check_token_by_token=False, convention="input_ids_cache_position",
                              prompt_lens=lens, n_gen=n_gen)["_gens"]
        ref_how = f"{ref_path.name} run now"
    elif ref_entry is not None:
        ref = [g for g in ref_entry["generations"] if g["prompt_len"] in lens]
        ref_how = f"{PD_REFERENCE}'s manifest entry"
    else:
        raise ExportError(f"{ref_path} does not exist and has no manifest entry (export {PD_REFERENCE} first)")
    kv = kv_cache_info(eager)
    kv["layout"] = ("[batch, n_heads, max_context_len, head_dim], one k_cache and one v_cache per layer, one copy "
                    "shared by prefill and decode")
    entries = []
    for name in names:
        path = out_dir / f"{name}.pte"
        if not path.is_file():
            raise ExportError(f"{path} does not exist (export it first)")
        delegate = PD_VARIANTS[name]
        m = measure_program(path, keep_logits=True, convention=PD_CONVENTION, prompt_lens=lens, n_gen=n_gen)
        size = path.stat().st_size
        if size > PD_MAX_BYTES:
            LOG.warning("%s is %d bytes (> %d)", name, size, PD_MAX_BYTES)
        if m["metadata"] != cp_constant_methods():
            raise ExportError(f"{name}: constant methods {m['metadata']} != {cp_constant_methods()}")
        for method, tokens in (("prefill", CP_PARAMS["max_context_len"] - 1), ("decode", 1)):
            mio = m["methods_io"][method]
            if mio["inputs"][0]["sizes"] != [1, tokens] or mio["outputs"][0]["sizes"] != [1, vocab]:
                raise ExportError(f"{name}: {method} {mio} (expected tokens [1, {tokens}] -> logits [1, {vocab}])")
        if bool(m["structure"]["delegates"]) != (delegate is not None):
            raise ExportError(f"{name}: delegates {m['structure']['delegates']}, expected {delegate}")
        eager_eq = same_ids(m["_gens"], eager_gens)
        diff = max_logit_diff(m["_gens"], eager_gens) if eager_eq else None
        if not eager_eq:
            LOG.error("%s: program != eager (%s)", name, first_difference(m["_gens"], eager_gens))
        ref_eq = same_ids(m["_gens"], ref)
        if not ref_eq:
            LOG.error("%s: != %s (%s)", name, PD_REFERENCE, first_difference(m["_gens"], ref))
        LOG.info("%s: finite %s, one-call==prefill token by token %s, ==prompt through decode %s, ==%s (%s) %s, "
                 "eager==program %s (max |logit diff| %s)", name, m["finite"], m["tbt_equal"],
                 m["decode_prompt_equal"], PD_REFERENCE, ref_how, ref_eq, eager_eq,
                 f"{diff:.3g}" if diff is not None else "-")
        extra = {
            "export_command": f"python scripts/export_llm.py --variants {name}",
            "note": ("the decoder of tiny-kv-cache-position-fp32 (same weights) as two methods sharing one KV cache, "
                     "the convention of ExecuTorch's multi-method LLM exports: prefill(tokens int64[1, S], "
                     "input_pos int64[1]) with S dynamic (1..63) and decode(tokens int64[1, 1], input_pos int64[1]), "
                     "each -> logits float32[1, vocab] of the last position (cache_position = input_pos + arange(S)); "
                     "the KV caches are mutable buffers planned once for both methods (to_executorch with "
                     "MemoryPlanningPass(share_mutable_buffers=True), emit_mutable_buffer_names=True), so decode "
                     "continues from what prefill wrote: load both methods from ONE program. No forward method. "
                     "Generations: the prompt in one prefill call at input_pos [0], each generated id through decode "
                     f"at input_pos [pos]; prompt lengths {list(lens)} with {n_gen} generated ids (max context "
                     f"{CP_PARAMS['max_context_len']}); token-by-token = prefill with one token per call (etbench's "
                     "--prefill-mode token), prompt_through_decode = decode for each prompt token"),
            "model": {"params": CP_PARAMS, "seed": CP_SEED,
                      "architecture": f"{PD_REFERENCE}'s decoder behind forward(tokens, input_pos) -> "
                                      "decoder(tokens, input_pos + arange(S))[:, -1, :], exported as prefill (dynamic "
                                      "S) and decode (S = 1)",
                      "init": "the same seeded weights as " + PD_REFERENCE},
            "max_abs_logit_diff_vs_eager": diff,
        }
        checked = {
            "one_call_prefill_equals_token_by_token": m["tbt_equal"],
            "one_call_prefill_equals_prompt_through_decode": m["decode_prompt_equal"],
            "static_equals_dynamic": None,
            "finite": m["finite"],
            "eager_equals_program": eager_eq,
            "equals_cache_position_program": ref_eq,
        }
        entries.append(variant_entry(name, path, m, family=CP_FAMILY, exporter=CP_EXPORTER, delegate=delegate,
                                     weight_dtype="float32", quantization="none", kv_cache=kv, checked=checked,
                                     extra=extra, convention=PD_CONVENTION))
        if not (m["finite"] and m["tbt_equal"] and m["decode_prompt_equal"] and eager_eq and ref_eq):
            LOG.error("%s: a check FAILED (recorded in the manifest)", name)
    return entries


def merge_hand_written(old: dict, entries: list[dict]) -> list[dict]:
    """The hand-written family after replacing `entries` by name, in the order of CP_VARIANTS then PD_VARIANTS."""
    by_name = {v["name"]: v for v in old.get("variants", []) if v.get("family") == CP_FAMILY}
    by_name.update({e["name"]: e for e in entries})
    order = [*CP_VARIANTS, *PD_VARIANTS]
    return sorted(by_name.values(), key=lambda v: order.index(v["name"]) if v["name"] in order else len(order))


# =================================================================================================
# Main
# =================================================================================================

def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out-dir", default=REPO_ROOT / "models", type=Path, help="output directory (default: models/)")
    p.add_argument("--variants", default=None,
                   help=f"comma list (default: all of {','.join(ALL_VARIANTS)}; with --check: "
                        "every manifest entry)")
    p.add_argument("--check", action="store_true",
                   help="no export: verify sha256 and re-run every recorded generation of the manifest")
    p.add_argument("--manifest-only", action="store_true",
                   help="no export: measure the existing Llama (and hand-written) .pte files and rewrite their "
                        "manifest entries")
    p.add_argument("--jobs", type=int, default=2, help="export_llama processes at a time (default 2)")
    p.add_argument("--keep-work", type=Path, default=None, help="keep the checkpoint and export logs in this dir")
    p.add_argument("--greedy", type=Path, default=None, metavar="PTE",
                   help="print (JSON on stdout) the greedy ids ExecuTorch's Python runtime generates for PTE after "
                        "--prompt-ids: --steps ids, the first from the prompt; --token-by-token feeds the prompt one "
                        "token per call (the tests compare etbench's C++ runner with this, on the same machine); "
                        "the calling convention (input_pos [1] or cache_position [S]) is read from forward's inputs; "
                        "a program with prefill + decode methods gets the prompt through prefill and each generated "
                        "id through decode")
    p.add_argument("--prompt-ids", default=None, help="comma-separated prompt ids for --greedy")
    p.add_argument("--steps", type=int, default=16, help="ids to generate with --greedy (default 16)")
    p.add_argument("--token-by-token", action="store_true",
                   help="with --greedy: prefill one token per call (prefill_decode_methods: `prefill` with S = 1)")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    args.variants = [v.strip() for v in args.variants.split(",") if v.strip()] if args.variants else None
    if args.variants and not args.check:
        bad = [v for v in args.variants if v not in ALL_VARIANTS]
        if bad:
            p.error(f"--variants: unknown {bad}; choose from {','.join(ALL_VARIANTS)}")
    if args.jobs < 1:
        p.error("--jobs must be >= 1")
    return args


def ensure_fixed_hash_seed():
    if os.environ.get("PYTHONHASHSEED") != "0":
        os.environ["PYTHONHASHSEED"] = "0"
        os.execv(sys.executable, [sys.executable, os.path.abspath(__file__), *sys.argv[1:]])


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S")
    t0 = time.monotonic()
    _self_test_splitmix64()
    import torch  # noqa: F401

    if args.check:
        return check_manifest(args.out_dir / MANIFEST_NAME, args.variants)
    if args.greedy is not None:
        if not args.prompt_ids:
            raise ExportError("--greedy needs --prompt-ids 1,2,3")
        prompt = [int(t) for t in args.prompt_ids.split(",")]
        # prefill + decode methods when the program has both (one Program object: shared KV cache), else forward.
        _program, method, decode_method, convention = load_steps(args.greedy)
        LOG.info("--greedy: %s, convention %s", args.greedy, convention)
        out = greedy(program_step(method, convention), prompt, args.steps, one_call_prefill=not args.token_by_token,
                     decode_step=program_step(decode_method, convention))
        print(json.dumps({"generated": out["generated"], "finite": out["finite"], "min_margin": out["min_margin"]}))
        return 0

    names = [n for n in LLAMA_VARIANTS if args.variants is None or n in args.variants]
    cp_names = [n for n in CP_VARIANTS if args.variants is None or n in args.variants]
    pd_names = [n for n in PD_VARIANTS if args.variants is None or n in args.variants]
    out_dir: Path = args.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    LOG.info("versions: %s", versions())
    secs = None
    if not args.manifest_only and names:
        if args.keep_work:
            args.keep_work.mkdir(parents=True, exist_ok=True)
            secs = export_llama_variants(names, args.keep_work.resolve(), out_dir, args.jobs)
        else:
            with tempfile.TemporaryDirectory(prefix="export_llm.") as work:
                secs = export_llama_variants(names, Path(work), out_dir, args.jobs)
    all_entries = []
    if names:
        old = read_manifest(out_dir / MANIFEST_NAME) or {}
        entries = llama_manifest(names, out_dir, secs)
        # Keep Llama entries of variants not re-made this time.
        keep = [v for v in old.get("variants", []) if v.get("family") == "llama" and v["name"] not in names]
        write_manifest(out_dir, "llama", keep + entries)
        all_entries += entries
    # The hand-written programs; prefill/decode after cache_position: that program (same weights) is the reference
    # for its generations.
    for hand_names, export, manifest in ((cp_names, cp_export, cp_manifest), (pd_names, pd_export, pd_manifest)):
        if not hand_names:
            continue
        if not args.manifest_only:
            for n in hand_names:
                export(n, out_dir)
        old = read_manifest(out_dir / MANIFEST_NAME) or {}
        entries = manifest(hand_names, out_dir)
        write_manifest(out_dir, CP_FAMILY, merge_hand_written(old, entries))
        all_entries += entries
    for e in all_entries:
        LOG.info("  %-30s %9d bytes  %s  first ids (len 8): %s", e["name"], e["size_bytes"], e["sha256"][:16],
                 next(g["generated"][:8] for g in e["generations"] if g["prompt_len"] == 8))
    LOG.info("done in %.1fs", time.monotonic() - t0)
    return 0


if __name__ == "__main__":
    ensure_fixed_hash_seed()
    try:
        sys.exit(main())
    except ExportError as e:
        print(f"export_llm: error: {e}", file=sys.stderr)
        sys.exit(2)
