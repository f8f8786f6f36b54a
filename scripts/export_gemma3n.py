#!/usr/bin/env python3
"""Export Gemma 3n text decoders to ExecuTorch .pte files (test fixtures for etbench).

Usage (after `bash scripts/setup-export-env.sh`):

    .venv-export/bin/python scripts/export_gemma3n.py                 # all 4 tiny variants -> models/
    .venv-export/bin/python scripts/export_gemma3n.py --out-dir /tmp/x --variants bf16,int8
    .venv-export/bin/python scripts/export_gemma3n.py --hf-dir /path/to/gemma-3n-E4B-it --out-dir /data/e4b

Recipe (same as the public Gemma 3n ExecuTorch model-card exports):
    forward(ids) = lm_head(language_model(ids, use_cache=False).last_hidden_state)
    torch.export.export(wrapper, (ids,), strict=False), ids: int64 [1, window]
    bf16          : model in bfloat16                          -> to_edge -> to_executorch
    int8          : bf16 model + torchao Int8WeightOnlyConfig  -> to_edge -> to_executorch
    xnnpack-fp32  : fp32 model      -> to_edge_transform_and_lower(XnnpackPartitioner) -> to_executorch
    xnnpack-8da4w : fp32 model + torchao Int8DynamicActivationIntxWeightConfig(int4, group 32) on
                    nn.Linear with in_features % 32 == 0       -> XNNPACK lowering -> to_executorch
The logits are the RAW lm_head output: Gemma 3n's final_logit_softcapping is NOT applied.

Everything is logged to stderr; nothing is printed on stdout.
"""
from __future__ import annotations

import argparse
import ast
import copy
import hashlib
import json
import logging
import os
import sys
import time
from pathlib import Path

LOG = logging.getLogger("export_gemma3n")

ALL_VARIANTS = ("bf16", "int8", "xnnpack-fp32", "xnnpack-8da4w")
INPUT_FORMULA = "2 + (i*31) % 509"
NOTE = "logits are raw lm_head output; final_logit_softcapping not applied"
SPECIAL_TOKENS = ["<pad>", "<eos>", "<bos>", "<unk>"]  # ids 0..3, as in Gemma
NOISE_STD = 0.02

# Variant name -> (model dtype, quantization label, delegate)
VARIANT_INFO = {
    "bf16": ("bfloat16", "none", None),
    "int8": ("bfloat16", "int8-weight-only", None),
    "xnnpack-fp32": ("float32", "none", "XnnpackBackend"),
    "xnnpack-8da4w": ("float32", "8da4w-g32", "XnnpackBackend"),
}


class ExportError(Exception):
    """A user-facing error: printed without a traceback, exit code 2."""


# --------------------------------------------------------------------------------------
# Configs
# --------------------------------------------------------------------------------------

def tiny_config_kwargs() -> dict:
    """Tiny random-weight Gemma 3n text config keeping all of Gemma 3n's features:
    altup (4 inputs), laurel, per-layer embeddings (PLE), alternating sliding/full
    attention, kv-shared layers (the last 2 layers reuse layers 0/1's K/V) and
    activation sparsity (0.95 on the first 2 layers)."""
    n_layers = 4
    return {
        "vocab_size": 2048,
        "vocab_size_per_layer_input": 2048,
        "hidden_size": 128,
        "hidden_size_per_layer_input": 32,
        "intermediate_size": [256] * n_layers,
        "num_hidden_layers": n_layers,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": 32,
        "laurel_rank": 16,
        "altup_num_inputs": 4,
        "sliding_window": 16,
        "layer_types": ["sliding_attention", "full_attention"] * (n_layers // 2),
        "num_kv_shared_layers": 2,
        "activation_sparsity_pattern": [0.95, 0.95, 0.0, 0.0],
        "max_position_embeddings": 512,
        "pad_token_id": 0,
        "eos_token_id": 1,
        "bos_token_id": 2,
        "tie_word_embeddings": True,
        "final_logit_softcapping": 30.0,
    }


def e4b_slice_config_kwargs() -> dict:
    """Real E4B dimensions, but only 2 layers (one sliding, one full; no kv sharing is
    possible with 2 layers). ~0.7 B params: big files, not committed."""
    n_layers = 2
    return {
        "vocab_size": 262400,
        "vocab_size_per_layer_input": 262144,
        "hidden_size": 2048,
        "hidden_size_per_layer_input": 256,
        "intermediate_size": [16384] * n_layers,
        "num_hidden_layers": n_layers,
        "num_attention_heads": 8,
        "num_key_value_heads": 2,
        "head_dim": 256,
        "laurel_rank": 64,
        "altup_num_inputs": 4,
        "sliding_window": 512,
        "layer_types": ["sliding_attention", "full_attention"],
        "num_kv_shared_layers": 0,
        "activation_sparsity_pattern": [0.95] * n_layers,
        "max_position_embeddings": 32768,
        "pad_token_id": 0,
        "eos_token_id": 1,
        "bos_token_id": 2,
        "tie_word_embeddings": True,
        "final_logit_softcapping": 30.0,
    }


SHAPES = {"tiny": tiny_config_kwargs, "e4b-slice": e4b_slice_config_kwargs}


def default_ids(window: int) -> list[int]:
    # Another program (the Rust harness) uses exactly this formula.
    return [2 + (i * 31) % 509 for i in range(window)]


# --------------------------------------------------------------------------------------
# transformers runtime patch
# --------------------------------------------------------------------------------------

def patch_gaussian_topk():
    """transformers 5.24's Gemma3nTextMLP._gaussian_topk computes
    Normal(0, 1).icdf(sparsity) (erfinv) on every forward: erfinv is not in ExecuTorch's
    op set. Precompute that multiplier per module (see prepare_mlps) and use the constant.
    A runtime monkeypatch: site-packages is never modified."""
    import torch
    from transformers.models.gemma3n import modeling_gemma3n as mg

    cls = mg.Gemma3nTextMLP
    if getattr(cls, "_etbench_patched", False):
        return
    original = cls._gaussian_topk

    def _gaussian_topk(self, inputs):
        mult = getattr(self, "_etbench_std_multiplier", None)
        if mult is None:
            return original(self, inputs)
        std_multiplier = mult.type(inputs.dtype)
        inputs_mean = torch.mean(inputs, dim=-1, keepdim=True)
        inputs_std = torch.std(inputs, dim=-1, keepdim=True, unbiased=False)
        cutoff_x = inputs_mean + inputs_std * std_multiplier
        return torch.nn.functional.relu(inputs - cutoff_x)

    cls._etbench_original_gaussian_topk = original
    cls._gaussian_topk = _gaussian_topk
    cls._etbench_patched = True


def prepare_mlps(model) -> int:
    """Register the precomputed icdf multiplier (float32, as transformers computes it) on
    every sparse MLP. Must run before any dtype cast so .to(bf16) rounds it like
    transformers' `.type(inputs.dtype)` does."""
    import torch
    from transformers.models.gemma3n import modeling_gemma3n as mg

    n = 0
    for mod in model.modules():
        if isinstance(mod, mg.Gemma3nTextMLP) and mod.activation_sparsity > 0.0:
            target = torch.tensor(mod.activation_sparsity, dtype=torch.float32)
            mult = torch.distributions.normal.Normal(0, 1).icdf(target).to(torch.float32)
            mod.register_buffer("_etbench_std_multiplier", mult, persistent=False)
            n += 1
    return n


# --------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------

def make_wrapper_cls():
    import torch

    class LogitsWrapper(torch.nn.Module):
        """forward(ids) = lm_head(language_model(ids, use_cache=False).last_hidden_state)"""

        def __init__(self, causal_lm):
            super().__init__()
            self.language_model = causal_lm.model
            self.lm_head = causal_lm.lm_head

        def forward(self, ids):
            return self.lm_head(self.language_model(ids, use_cache=False).last_hidden_state)

    return LogitsWrapper


def build_random_model(config_kwargs: dict, seed: int):
    import torch
    from transformers import Gemma3nTextConfig
    from transformers.models.gemma3n.modeling_gemma3n import Gemma3nForCausalLM

    config = Gemma3nTextConfig(**config_kwargs)
    torch.manual_seed(seed)
    model = Gemma3nForCausalLM(config)
    model.eval()
    # Random init leaves some parameters at exact zero/one (e.g. altup correct_output_scale
    # = 0, which would switch off the per-layer path): add small fixed-seed noise to every
    # parameter so every path contributes. named_parameters() dedups the tied lm_head.
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for _, p in sorted(model.named_parameters(), key=lambda kv: kv[0]):
            p.add_(torch.randn(p.shape, generator=gen, dtype=torch.float32).to(p.dtype) * NOISE_STD)
    return model


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ExportError(f"cannot read {path}: {e}") from e


def hf_text_config(hf_dir: Path):
    """(Gemma3nTextConfig, weight-name prefixes) from a local snapshot's config.json."""
    from transformers import Gemma3nTextConfig

    cfg_path = hf_dir / "config.json"
    if not hf_dir.is_dir():
        raise ExportError(f"--hf-dir {hf_dir} is not a directory")
    if not cfg_path.is_file():
        raise ExportError(f"--hf-dir {hf_dir} has no config.json (expected a local Hugging Face snapshot of google/gemma-3n-E4B-it or E2B)")
    raw = _read_json(cfg_path)
    model_type = raw.get("model_type")
    if model_type == "gemma3n":
        text_cfg = raw.get("text_config")
        if not isinstance(text_cfg, dict):
            raise ExportError(f"{cfg_path}: model_type gemma3n without a text_config")
        prefixes = ("model.language_model.", "language_model.model.")
    elif model_type == "gemma3n_text":
        text_cfg = raw
        prefixes = ("model.",)
    else:
        raise ExportError(f"{cfg_path}: model_type {model_type!r} is not a Gemma 3n model (want gemma3n or gemma3n_text)")
    text_cfg = {k: v for k, v in text_cfg.items() if k not in ("architectures", "model_type", "transformers_version")}
    try:
        return Gemma3nTextConfig(**text_cfg), prefixes
    except Exception as e:  # strict dataclass validation
        raise ExportError(f"{cfg_path}: invalid Gemma 3n text config: {e}") from e


def load_hf_text_model(hf_dir: Path, dtype):
    """Load the Gemma 3n text decoder (+ tied lm_head) from a local Hugging Face snapshot
    directory (google/gemma-3n-E4B-it, E2B, ...), never touching the network.
    Accepts a multimodal checkpoint (model_type "gemma3n": keys model.language_model.*)
    or a text-only one (model_type "gemma3n_text": keys model.*). Only the text weights
    are read (vision/audio towers are skipped)."""
    import torch
    from transformers.models.gemma3n.modeling_gemma3n import Gemma3nForCausalLM

    config, prefixes = hf_text_config(hf_dir)
    shards = sorted(hf_dir.glob("*.safetensors"))
    if not shards:
        raise ExportError(f"--hf-dir {hf_dir} has no *.safetensors weight files")
    from safetensors import safe_open

    with torch.device("meta"):
        model = Gemma3nForCausalLM(config)
    wanted = model.state_dict()
    state = {}
    LOG.info("loading text weights from %d safetensors file(s) in %s", len(shards), hf_dir)
    for shard in shards:
        with safe_open(str(shard), framework="pt") as f:
            for key in f.keys():
                for pre in prefixes:
                    if key.startswith(pre):
                        name = "model." + key[len(pre):]
                        if name in wanted:
                            state[name] = f.get_tensor(key).to(dtype)
                        break
                else:
                    if key == "lm_head.weight" and key in wanted:
                        state[key] = f.get_tensor(key).to(dtype)
    if "lm_head.weight" not in state and "model.embed_tokens.weight" in state:
        state["lm_head.weight"] = state["model.embed_tokens.weight"]
    missing = sorted(set(wanted) - set(state))
    if missing:
        raise ExportError(f"{hf_dir}: {len(missing)} text-decoder weights missing, e.g. {missing[:5]}")
    model.load_state_dict(state, assign=True, strict=True)
    if config.tie_word_embeddings:
        model.lm_head.weight = model.model.embed_tokens.weight
    # Non-persistent buffers (embed scales, rotary inv_freq, ...) are still on meta: rebuild
    # them on CPU by re-running the small modules' constructors.
    _materialize_meta_buffers(model, config)
    model.eval()
    return model, config


def _materialize_meta_buffers(model, config):
    import torch
    from transformers.models.gemma3n import modeling_gemma3n as mg

    with torch.device("cpu"):
        fresh_rotary = mg.Gemma3nRotaryEmbedding(config)
    model.model.rotary_emb = fresh_rotary
    for mod in model.modules():
        for bname, buf in list(mod.named_buffers(recurse=False)):
            if buf is None or not buf.is_meta:
                continue
            if isinstance(mod, mg.Gemma3nTextScaledWordEmbedding) and bname == "embed_scale":
                new = torch.tensor(mod.scalar_embed_scale)
            elif isinstance(mod, mg.Gemma3nTextAltUp) and bname == "router_input_scale":
                new = torch.tensor(config.hidden_size ** -1.0)
            elif isinstance(mod, mg.Gemma3nTextModel) and bname == "per_layer_projection_scale":
                new = torch.tensor(config.hidden_size ** -0.5)
            elif isinstance(mod, mg.Gemma3nTextModel) and bname == "per_layer_input_scale":
                new = torch.rsqrt(torch.tensor(2.0))
            else:
                raise ExportError(f"cannot materialise meta buffer {type(mod).__name__}.{bname}")
            mod._buffers[bname] = new
    leftover = [n for n, t in list(model.named_parameters()) + list(model.named_buffers()) if t.is_meta]
    if leftover:
        raise ExportError(f"tensors still on meta after loading: {leftover[:5]}")


# --------------------------------------------------------------------------------------
# Export
# --------------------------------------------------------------------------------------

def quantize(model, variant: str):
    import torch
    from torchao.quantization import quantize_

    if variant == "int8":
        from torchao.quantization import Int8WeightOnlyConfig

        quantize_(model, Int8WeightOnlyConfig())
    elif variant == "xnnpack-8da4w":
        from torchao.quantization import Int8DynamicActivationIntxWeightConfig
        from torchao.quantization.granularity import PerGroup

        def filter_fn(mod, _fqn):
            # Gemma 3n's altup linears have in_features 4: group 32 cannot apply there.
            return isinstance(mod, torch.nn.Linear) and mod.in_features % 32 == 0

        cfg = Int8DynamicActivationIntxWeightConfig(weight_dtype=torch.int4, weight_granularity=PerGroup(32))
        quantize_(model, cfg, filter_fn=filter_fn)
    return model


def export_variant(make_model, variant: str, ids, out_path: Path) -> dict:
    import torch
    from executorch.exir import to_edge, to_edge_transform_and_lower

    dtype_name, _, delegate = VARIANT_INFO[variant]
    t0 = time.monotonic()
    model = make_model(getattr(torch, dtype_name))
    model = quantize(model, variant)
    wrapper = make_wrapper_cls()(model).eval()
    with torch.no_grad():
        eager = wrapper(ids)
        t1 = time.monotonic()
        LOG.info("[%s] torch.export.export ...", variant)
        ep = torch.export.export(wrapper, (ids,), strict=False)
    t2 = time.monotonic()
    if delegate is None:
        LOG.info("[%s] to_edge ...", variant)
        edge = to_edge(ep)
    else:
        from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner

        LOG.info("[%s] to_edge_transform_and_lower(XnnpackPartitioner) ...", variant)
        edge = to_edge_transform_and_lower(ep, partitioner=[XnnpackPartitioner()])
    t3 = time.monotonic()
    LOG.info("[%s] to_executorch ...", variant)
    et = edge.to_executorch()
    data = et.buffer
    tmp = out_path.with_suffix(out_path.suffix + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, out_path)
    t4 = time.monotonic()
    n_delegates = _count_delegates(et)
    LOG.info(
        "[%s] wrote %s (%.2f MB, %d delegate call(s)); model+quant %.1fs, export %.1fs, edge/lower %.1fs, to_executorch %.1fs, total %.1fs",
        variant, out_path, len(data) / 1e6, n_delegates, t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0,
    )
    del model, wrapper, ep, edge, et
    return {"eager": eager, "seconds": t4 - t0, "n_delegates": n_delegates}


def _count_delegates(et) -> int:
    try:
        return sum(len(plan.delegates) for plan in et.executorch_program.execution_plan)
    except Exception:  # informational only
        return -1


def run_pte(path: Path, ids):
    from executorch.runtime import Runtime

    runtime = Runtime.get()
    program = runtime.load_program(str(path))
    method = program.load_method("forward")
    outputs = method.execute([ids])
    if len(outputs) != 1:
        raise ExportError(f"{path}: expected 1 output, got {len(outputs)}")
    return outputs[0]


def summarize(out) -> dict:
    import torch

    x = out.detach().to(torch.float64)
    finite = torch.isfinite(x)
    argmax = out.to(torch.float32).argmax(dim=-1)  # first maximal index on ties
    return {
        "output_shape": list(out.shape),
        "output_dtype": str(out.dtype).replace("torch.", ""),
        "argmax_per_position": [int(v) for v in argmax[0].tolist()],
        "argmax_last": int(argmax[0, -1]),
        "logits_sum": float(x.sum()),
        "logits_abs_mean": float(x.abs().mean()),
        "nan_count": int(torch.isnan(x).sum()),
        "inf_count": int(torch.isinf(x).sum()),
        "finite": bool(finite.all()),
    }


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# --------------------------------------------------------------------------------------
# Tokenizer
# --------------------------------------------------------------------------------------

def docstring_corpus(max_chars: int = 3_000_000) -> list[str]:
    """English-ish offline corpus: docstrings of the (pinned) transformers package's own
    sources, in sorted path order, so it is the same on every machine with the same pins."""
    import transformers

    root = Path(transformers.__file__).parent
    files = sorted(root.rglob("*.py"), key=lambda p: p.relative_to(root).as_posix())
    texts, total = [], 0
    for path in files:
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node)
                if doc:
                    texts.append(doc)
                    total += len(doc)
        if total >= max_chars:
            break
    return texts


def train_tokenizer(vocab_size: int, out_path: Path) -> dict:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    if vocab_size < 256 + len(SPECIAL_TOKENS):
        raise ExportError(f"vocab {vocab_size} too small for a byte-level BPE tokenizer")
    t0 = time.monotonic()
    corpus = docstring_corpus()
    LOG.info("training byte-level BPE tokenizer (vocab %d) on %d docstrings (%.1f MB)",
             vocab_size, len(corpus), sum(map(len, corpus)) / 1e6)
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer=trainer, length=len(corpus))
    got = tok.get_vocab_size(with_added_tokens=True)
    if got != vocab_size:
        raise ExportError(f"tokenizer vocab is {got}, wanted exactly {vocab_size} (corpus too small?)")
    for i, t in enumerate(SPECIAL_TOKENS):
        if tok.token_to_id(t) != i:
            raise ExportError(f"special token {t} has id {tok.token_to_id(t)}, wanted {i}")
    sentence = "The quick brown fox jumps over the lazy dog, 42 times! Ünïcödé ✓"
    enc = tok.encode(sentence)
    dec = tok.decode(enc.ids)
    if dec != sentence:
        raise ExportError(f"tokenizer round-trip failed: {sentence!r} -> {dec!r}")
    if max(enc.ids) >= vocab_size:
        raise ExportError("tokenizer produced an id outside the vocab")
    tok.save(str(out_path), pretty=True)
    LOG.info("wrote %s (vocab %d; %r -> %d tokens, round-trip ok) in %.1fs",
             out_path, got, sentence[:20] + "...", len(enc.ids), time.monotonic() - t0)
    return {"file": out_path.name, "vocab_size": got, "sha256": sha256_file(out_path)}


def existing_tokenizer(path: Path, vocab_size: int):
    if not path.is_file():
        return None
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(path))
    got = tok.get_vocab_size(with_added_tokens=True)
    if got != vocab_size:
        LOG.warning("%s has vocab %d != model vocab %d: not listed in the manifest", path, got, vocab_size)
        return None
    return {"file": path.name, "vocab_size": got, "sha256": sha256_file(path)}


# --------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------

def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out-dir", default="models", type=Path, help="output directory (default: models/)")
    p.add_argument("--variants", default=",".join(ALL_VARIANTS),
                   help=f"comma list of {','.join(ALL_VARIANTS)} (default: all)")
    p.add_argument("--shape", default="tiny", choices=sorted(SHAPES),
                   help="random-weight model shape (default tiny; e4b-slice = real E4B dims, 2 layers, ~GB files)")
    p.add_argument("--hf-dir", type=Path, default=None,
                   help="export the real text decoder from a local Hugging Face snapshot dir instead (no network)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--window", type=int, default=32, help="fixed input length (default 32)")
    p.add_argument("--no-tokenizer", action="store_true", help="skip tokenizer training")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    bad = [v for v in variants if v not in ALL_VARIANTS]
    if bad or not variants:
        p.error(f"--variants: unknown {bad or 'empty list'}; choose from {','.join(ALL_VARIANTS)}")
    args.variants = [v for v in ALL_VARIANTS if v in variants]  # canonical order, no dups
    if args.window < 1:
        p.error("--window must be >= 1")
    return args


def ensure_fixed_hash_seed():
    """transformers iterates `set(config.layer_types)` while building the graph, so the node
    order (and the .pte bytes) depends on str hash randomisation. Re-exec once with
    PYTHONHASHSEED=0 so exports are byte-for-byte reproducible."""
    if os.environ.get("PYTHONHASHSEED") != "0":
        os.environ["PYTHONHASHSEED"] = "0"
        os.execv(sys.executable, [sys.executable, os.path.abspath(__file__), *sys.argv[1:]])


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S")
    if args.hf_dir is not None:
        # Validate before the (slow) torch import.
        if not (args.hf_dir / "config.json").is_file():
            raise ExportError(f"--hf-dir {args.hf_dir}: no config.json there (expected a local Hugging Face snapshot of google/gemma-3n-E4B-it or E2B)")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    t_start = time.monotonic()

    import torch
    import executorch  # noqa: F401
    import importlib.metadata as md

    versions = {p: md.version(p) for p in ("torch", "executorch", "torchao", "transformers")}
    LOG.info("versions: %s", ", ".join(f"{k} {v}" for k, v in versions.items()))
    patch_gaussian_topk()

    out_dir: Path = args.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    ids = torch.tensor([default_ids(args.window)], dtype=torch.int64)

    if args.hf_dir is not None:
        shape_name = "hf"
        config, _ = hf_text_config(args.hf_dir)

        def make_model(dtype):
            # Loaded afresh per variant: a deepcopy of a multi-GB model would double memory.
            model, _cfg = load_hf_text_model(args.hf_dir, dtype)
            prepare_mlps(model)
            # Cast the fp32 scale buffers too, exactly like the tiny path's model.to(dtype).
            return model.to(dtype).eval()

        config_json = {k: v for k, v in config.to_dict().items() if not k.startswith("_")}
        file_prefix = f"gemma3n-{args.hf_dir.resolve().name.lower()}"
    else:
        shape_name = args.shape
        config_json = SHAPES[args.shape]()
        LOG.info("building random %s model (seed %d)", shape_name, args.seed)
        base = build_random_model(config_json, args.seed)
        config = base.config
        n_sparse = prepare_mlps(base)
        _check_patch(base, ids)
        n_params = sum(p.numel() for p in base.parameters())
        LOG.info("model: %.2f M params (tied lm_head counted once), %d sparse MLP(s), attn=%s",
                 n_params / 1e6, n_sparse, config._attn_implementation)

        def make_model(dtype):
            return copy.deepcopy(base).to(dtype).eval()

        file_prefix = f"gemma3n-{shape_name}"

    vocab = config.vocab_size
    variants_out = []
    for variant in args.variants:
        out_path = out_dir / f"{file_prefix}-{variant}.pte"
        res = export_variant(make_model, variant, ids, out_path)
        LOG.info("[%s] running with ExecuTorch's Python runtime ...", variant)
        out = run_pte(out_path, ids)
        exp = summarize(out)
        if not exp.pop("finite"):
            LOG.warning("[%s] output has %d NaN / %d Inf", variant, exp["nan_count"], exp["inf_count"])
        eager = res["eager"]
        max_diff = float((out.to(torch.float64) - eager.to(torch.float64)).abs().max())
        same_argmax = sum(int(a == b) for a, b in zip(exp["argmax_per_position"],
                                                       eager.float().argmax(-1)[0].tolist()))
        LOG.info("[%s] runtime vs eager: max |diff| %.4g, argmax agrees at %d/%d positions; argmax_last %d; %d distinct argmax",
                 variant, max_diff, same_argmax, args.window, exp["argmax_last"], len(set(exp["argmax_per_position"])))
        if list(out.shape) != [1, args.window, vocab]:
            raise ExportError(f"[{variant}] unexpected output shape {list(out.shape)}")
        dtype_name, quant, delegate = VARIANT_INFO[variant]
        variants_out.append({
            "name": variant,
            "file": out_path.name,
            "sha256": sha256_file(out_path),
            "size_bytes": out_path.stat().st_size,
            "weight_dtype": {"int8": "int8", "xnnpack-8da4w": "int4"}.get(variant, dtype_name),
            "quantization": quant,
            "delegate": delegate,
            "expected": exp,
        })

    tok_path = out_dir / "tokenizer.json"
    if args.hf_dir is not None:
        src = args.hf_dir / "tokenizer.json"
        tokenizer = None
        if src.is_file():
            import shutil

            shutil.copyfile(src, tok_path)
            tokenizer = existing_tokenizer(tok_path, vocab) or {"file": tok_path.name, "sha256": sha256_file(tok_path)}
    elif args.no_tokenizer:
        tokenizer = existing_tokenizer(tok_path, vocab)
    elif args.shape != "tiny":
        LOG.warning("shape %s: no tokenizer is trained for a %d-entry vocab (the offline corpus is too small); "
                    "a real Gemma tokenizer.json comes with --hf-dir", args.shape, vocab)
        tokenizer = existing_tokenizer(tok_path, vocab)
    else:
        tokenizer = train_tokenizer(vocab, tok_path)

    manifest = {
        "schema_version": 1,
        "generator": "scripts/export_gemma3n.py",
        "versions": versions,
        "seed": args.seed if args.hf_dir is None else None,
        "shape": shape_name,
        "config": config_json,
        "window": args.window,
        "input": {"formula": INPUT_FORMULA, "ids": default_ids(args.window), "dtype": "int64",
                  "shape": [1, args.window]},
        "note": NOTE,
        "recipe": {
            "wrapper": "forward(ids) = lm_head(language_model(ids, use_cache=False).last_hidden_state)",
            "export": "torch.export.export(wrapper, (ids,), strict=False)",
            "attn_implementation": config._attn_implementation,
            "noise_std": NOISE_STD if args.hf_dir is None else None,
            "argmax_tie_break": "first maximal index",
        },
        "variants": variants_out,
        "tokenizer": tokenizer,
    }
    mpath = out_dir / "manifest.json"
    mpath.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    LOG.info("wrote %s; total %.1fs", mpath, time.monotonic() - t_start)
    for v in variants_out:
        LOG.info("  %-14s %8.2f MB  argmax_last %5d  %s", v["name"], v["size_bytes"] / 1e6,
                 v["expected"]["argmax_last"], v["sha256"][:16])
    return 0


def _check_patch(model, ids):
    """The patched _gaussian_topk must give exactly what transformers' original gives."""
    import torch
    from transformers.models.gemma3n import modeling_gemma3n as mg

    wrapper = make_wrapper_cls()(model).eval()
    cls = mg.Gemma3nTextMLP
    with torch.no_grad():
        patched = wrapper(ids)
        patched_fn = cls._gaussian_topk
        cls._gaussian_topk = cls._etbench_original_gaussian_topk
        try:
            original = wrapper(ids)
        finally:
            cls._gaussian_topk = patched_fn
    if not torch.equal(patched, original):
        raise ExportError("patched Gemma3nTextMLP._gaussian_topk differs from transformers' original")
    LOG.info("patched _gaussian_topk matches transformers' original (fp32 eager, bit-exact)")


if __name__ == "__main__":
    ensure_fixed_hash_seed()
    try:
        sys.exit(main())
    except ExportError as e:
        print(f"export_gemma3n: error: {e}", file=sys.stderr)
        sys.exit(2)
