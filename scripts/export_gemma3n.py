#!/usr/bin/env python3
"""Export Gemma 3n text decoders to ExecuTorch .pte files (test fixtures for etbench).

Usage (after `bash scripts/setup-export-env.sh`):

    .venv-export/bin/python scripts/export_gemma3n.py                 # all 4 tiny variants -> models/
    .venv-export/bin/python scripts/export_gemma3n.py --out-dir /tmp/x --variants bf16,int8
    .venv-export/bin/python scripts/export_gemma3n.py --hf-dir /path/to/gemma-3n-E4B-it --out-dir /data/e4b
    .venv-export/bin/python scripts/export_gemma3n.py --kv-cache      # tiny KV-cache decoders -> models/
                                                                      #   gemma3n-tiny-kv-*.pte + manifest-llm.json

Recipe (same as the public Gemma 3n ExecuTorch model-card exports):
    forward(ids) = lm_head(language_model(ids, use_cache=False).last_hidden_state)
    torch.export.export(wrapper, (ids,), strict=False), ids: int64 [1, window]
    bf16          : model in bfloat16                          -> to_edge -> to_executorch
    int8          : bf16 model + torchao Int8WeightOnlyConfig  -> to_edge -> to_executorch
    xnnpack-fp32  : fp32 model      -> to_edge_transform_and_lower(XnnpackPartitioner) -> to_executorch
    xnnpack-8da4w : fp32 model + torchao Int8DynamicActivationIntxWeightConfig(int4, group 32) on
                    nn.Linear with in_features % 32 == 0       -> XNNPACK lowering -> to_executorch
The logits are the RAW lm_head output: Gemma 3n's final_logit_softcapping is NOT applied.

--kv-cache [--max-seq-len N]: the same weights behind a static KV cache in the ExecuTorch LLM-runner convention
(see make_kv_cls): forward(tokens int64 [1,S], dynamic S in 1..N-1, input_pos int64 [1]) -> logits [1, vocab] of
the last position, k/v in mutable buffers, constant methods get_max_seq_len, get_max_context_len, get_vocab_size,
get_n_layers, use_kv_cache, use_sdpa_with_kv_cache, enable_dynamic_shape, get_bos_id, get_eos_ids. Greedy
generations (prompt rule of scripts/export_llm.py) go to manifest-llm.json; manifest.json is not touched.

Everything is logged to stderr; nothing is printed on stdout.
"""
from __future__ import annotations

import argparse
import ast
import copy
import hashlib
import json
import logging
import math
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
# --kv-cache: a decoder with a static KV cache (ExecuTorch LLM runner convention)
# --------------------------------------------------------------------------------------

KV_VARIANTS = ALL_VARIANTS  # same four recipes as the fixed-window fixtures
KV_EXPORTER = "scripts/export_gemma3n.py --kv-cache"
KV_NOTE = ("forward(tokens int64 [1,S], input_pos int64 [1]) -> raw lm_head logits [1, vocab] of the last position "
           "(final_logit_softcapping NOT applied, like the fixed-window fixtures); KV cache in mutable buffers")


def make_kv_cls():
    """Gemma3nKVDecoder: transformers' Gemma 3n text model with a static KV cache written at input_pos.

    Reuses the HF modules' weights and sub-modules (embeddings, per-layer embeddings and projections, altup,
    laurel, norms, MLPs, rotary embedding) and re-implements only the attention step, as ExecuTorch's Gemma 4
    text decoder does with --no-use_custom_sdpa: each non-shared layer owns k/v buffers
    [1, n_kv_heads, max_seq_len, head_dim]; a step writes its S new k/v rows at input_pos .. input_pos+S-1
    (narrow().copy_(), an in-place buffer update that ExecuTorch keeps as a mutable buffer) and attends over
    cache positions [0, input_pos+S) with a causal mask; sliding layers mask everything older than the last
    `sliding_window` positions (transformers' rule: kv > q - window). KV-shared layers (the last
    num_kv_shared_layers) read the cache of the last non-shared layer of the same attention type, exactly
    as transformers' `kv_sharing_modes` ("store"/"reuse") do. Plain aten ops only (no custom SDPA)."""
    import torch
    from torch import nn
    from transformers.models.gemma3n import modeling_gemma3n as mg

    class KVCache(nn.Module):
        def __init__(self, shape, dtype):
            super().__init__()
            self.register_buffer("k_cache", torch.zeros(shape, dtype=dtype), persistent=False)
            self.register_buffer("v_cache", torch.zeros(shape, dtype=dtype), persistent=False)

    class Gemma3nKVDecoder(nn.Module):
        def __init__(self, causal_lm, max_seq_len: int, dtype):
            super().__init__()
            self.language_model = causal_lm.model
            self.lm_head = causal_lm.lm_head
            cfg = self.language_model.config
            self.cfg = cfg
            self.max_seq_len = int(max_seq_len)
            self.layer_types = list(cfg.layer_types)
            self.sliding_window = int(cfg.sliding_window)
            modes = cfg.kv_sharing_modes
            shape = (1, cfg.num_key_value_heads, self.max_seq_len, cfg.head_dim)
            self.kv_caches = nn.ModuleDict()
            self.cache_source = []  # layer -> index of the layer whose cache it attends over
            producer = {}
            for i, mode in enumerate(modes):
                if mode == "reuse":
                    self.cache_source.append(producer[self.layer_types[i]])
                else:
                    self.kv_caches[str(i)] = KVCache(shape, dtype)
                    self.cache_source.append(i)
                    producer[self.layer_types[i]] = i  # the last non-shared layer of each type wins
            self.kv_shared = [m == "reuse" for m in modes]

        def forward(self, tokens, input_pos):
            lm, cfg = self.language_model, self.cfg
            seq_len = tokens.shape[1]
            start = input_pos[0].item()
            torch._check(start >= 0)
            torch._check(start + seq_len <= self.max_seq_len)
            kv_len = start + seq_len
            position_ids = (torch.arange(seq_len, dtype=torch.long) + input_pos[0]).unsqueeze(0)

            inputs_embeds = lm.embed_tokens(tokens)
            per_layer_inputs = lm.project_per_layer_inputs(inputs_embeds, lm.get_per_layer_inputs(tokens))

            # altup expansion, as Gemma3nTextModel.forward
            hidden_states_0 = inputs_embeds
            target_magnitude = torch.mean(hidden_states_0 ** 2, dim=-1, keepdim=True) ** 0.5
            temp = [hidden_states_0]
            for i in range(1, cfg.altup_num_inputs):
                cur = lm.altup_projections[i - 1](hidden_states_0).to(dtype=hidden_states_0.dtype)
                new_magnitude = torch.sqrt(torch.mean(cur ** 2, dim=-1, keepdim=True).clamp(min=1e-5))
                temp.append(cur * target_magnitude / new_magnitude)
            hidden_states = torch.stack(temp, dim=0)
            pos_emb = {t: lm.rotary_emb(hidden_states, position_ids, t) for t in sorted(set(self.layer_types))}

            # masks over cache positions [0, kv_len) for the query positions start .. start+S-1
            kpos = torch.arange(kv_len, dtype=torch.long).unsqueeze(0)
            qpos = position_ids[0].unsqueeze(1)
            causal = kpos <= qpos
            sliding = torch.logical_and(causal, kpos > qpos - self.sliding_window)
            neg = torch.tensor(float("-inf"), dtype=inputs_embeds.dtype)
            zero = torch.tensor(0.0, dtype=inputs_embeds.dtype)
            masks = {"full_attention": torch.where(causal, zero, neg),
                     "sliding_attention": torch.where(sliding, zero, neg)}

            shared = {}
            for i, layer in enumerate(lm.layers[: cfg.num_hidden_layers]):
                lt = self.layer_types[i]
                hidden_states = self._decoder_layer(i, layer, hidden_states, pos_emb[lt], per_layer_inputs[:, :, i, :],
                                                    masks[lt], start, seq_len, kv_len, shared)

            # Only the last position's logits are returned: everything below is per position.
            hidden_states = hidden_states[:, :, -1:, :]
            target_magnitude = torch.mean(hidden_states[0] ** 2, dim=-1, keepdim=True) ** 0.5
            temp = [hidden_states[0]]
            for i in range(1, cfg.altup_num_inputs):
                cur = lm.altup_unembed_projections[i - 1](hidden_states[i]).to(dtype=hidden_states_0.dtype)
                new_magnitude = torch.sqrt(torch.mean(cur ** 2, dim=-1, keepdim=True).clamp(min=1e-5))
                temp.append(cur * target_magnitude / new_magnitude)
            hidden_states = torch.mean(torch.stack(temp), dim=0)
            hidden_states = lm.norm(hidden_states)
            return self.lm_head(hidden_states[:, -1, :])

        def _decoder_layer(self, i, layer, hidden_states, pos_emb, per_layer_input, mask, start, seq_len, kv_len, shared):
            # Gemma3nTextDecoderLayer.forward with our attention step.
            cfg = self.cfg
            predictions = layer.altup.predict(hidden_states)
            active_prediction = predictions[cfg.altup_active_idx]
            active_prediction_normed = layer.input_layernorm(active_prediction)
            laurel_output = layer.laurel(active_prediction_normed)
            attn = self._attention(i, layer.self_attn, active_prediction_normed, pos_emb, mask, start, seq_len,
                                   kv_len, shared)
            attn = layer.post_attention_layernorm(attn)
            attn_gated = active_prediction + attn
            attn_laurel = (attn_gated + laurel_output) / math.sqrt(2)
            attn_norm = layer.pre_feedforward_layernorm(attn_laurel)
            attn_ffw = layer.mlp(attn_norm)
            attn_ffw_norm = layer.post_feedforward_layernorm(attn_ffw)
            attn_ffw_laurel_gated = attn_laurel + attn_ffw_norm
            corrected_predictions = layer.altup.correct(predictions, attn_ffw_laurel_gated)
            first_prediction = corrected_predictions[cfg.altup_active_idx].clone()
            if cfg.altup_correct_scale:
                first_prediction = layer.altup.scale_corrected_output(first_prediction)
            first_prediction = layer.per_layer_input_gate(first_prediction)
            first_prediction = layer.act_fn(first_prediction)
            first_prediction = torch.multiply(first_prediction, per_layer_input)
            first_prediction = layer.per_layer_projection(first_prediction)
            first_prediction = layer.post_per_layer_input_norm(first_prediction)
            # corrected_predictions[1:] += first_prediction, written out of place
            return torch.cat([corrected_predictions[:1], corrected_predictions[1:] + first_prediction], dim=0)

        def _attention(self, i, sa, x, pos_emb, mask, start, seq_len, kv_len, shared):
            cfg = self.cfg
            cos, sin = pos_emb
            hidden_shape = (*x.shape[:-1], -1, cfg.head_dim)
            q = sa.q_norm(sa.q_proj(x).view(hidden_shape))
            q = mg.apply_rotary_pos_emb(q, cos, sin, unsqueeze_dim=2).transpose(1, 2)
            if self.kv_shared[i]:
                k, v = shared[sa.layer_type]
            else:
                k = sa.k_norm(sa.k_proj(x).view(hidden_shape))
                k = mg.apply_rotary_pos_emb(k, cos, sin, unsqueeze_dim=2).transpose(1, 2)
                v = sa.v_norm(sa.v_proj(x).view(hidden_shape)).transpose(1, 2)
                cache = self.kv_caches[str(i)]
                cache.k_cache.narrow(2, start, seq_len).copy_(k)
                cache.v_cache.narrow(2, start, seq_len).copy_(v)
                k = cache.k_cache.narrow(2, 0, kv_len)
                v = cache.v_cache.narrow(2, 0, kv_len)
                shared[sa.layer_type] = (k, v)  # read by the later kv-shared layers of this type
            k = mg.repeat_kv(k, sa.num_key_value_groups)
            v = mg.repeat_kv(v, sa.num_key_value_groups)
            w = torch.matmul(q, k.transpose(2, 3)) * sa.scaling + mask
            w = torch.nn.functional.softmax(w, dim=-1, dtype=torch.float32).to(q.dtype)
            out = torch.matmul(w, v).transpose(1, 2).contiguous()
            return sa.o_proj(out.reshape(*x.shape[:-1], -1))

    return Gemma3nKVDecoder


def _export_llm():
    """scripts/export_llm.py (prompt rule, greedy generation, manifest-llm.json), imported from this directory."""
    sys.dont_write_bytecode = True  # no scripts/__pycache__
    here = str(Path(__file__).resolve().parent)
    if here not in sys.path:
        sys.path.insert(0, here)
    import export_llm

    return export_llm


def kv_cache_facts(decoder) -> dict:
    bufs = [(n, b) for n, b in decoder.named_buffers() if n.endswith("k_cache") or n.endswith("v_cache")]
    return {
        "buffers": len(bufs),
        "bytes": sum(b.numel() * b.element_size() for _, b in bufs),
        "shape": list(bufs[0][1].shape) if bufs else None,
        "dtype": str(bufs[0][1].dtype).replace("torch.", "") if bufs else None,
        "layout": "[batch, n_kv_heads, max_seq_len, head_dim]; one k_cache and one v_cache per non-kv-shared layer",
        "layers_with_cache": sorted(int(k) for k in decoder.kv_caches.keys()),
        "cache_source_per_layer": list(decoder.cache_source),
    }


def kv_constant_methods(config, max_seq_len: int) -> dict:
    return {
        "get_max_seq_len": max_seq_len,
        "get_max_context_len": max_seq_len,
        "get_vocab_size": int(config.vocab_size),
        "get_n_layers": int(config.num_hidden_layers),
        "use_kv_cache": True,
        "use_sdpa_with_kv_cache": False,
        "enable_dynamic_shape": True,
        "get_bos_id": int(config.bos_token_id if config.bos_token_id is not None else 2),
        "get_eos_ids": [int(e) for e in (config.eos_token_id if isinstance(config.eos_token_id, list)
                                         else [config.eos_token_id if config.eos_token_id is not None else 1])],
    }


def kv_eager_step(decoder):
    import torch

    def step(tokens, input_pos):
        with torch.no_grad():
            return decoder(tokens, input_pos)

    return step


def nocache_step(causal_lm):
    """Greedy step function for the existing no-cache wrapper: keeps the whole sequence and recomputes
    lm_head(language_model(ids, use_cache=False)) from position 0 on every call."""
    import torch

    wrapper = make_wrapper_cls()(causal_lm).eval()
    seq = []

    def step(tokens, input_pos):
        pos = int(input_pos[0])
        del seq[pos:]
        if len(seq) != pos:
            raise ExportError(f"no-cache reference: input_pos {pos} skips positions (have {len(seq)})")
        seq.extend(int(t) for t in tokens[0].tolist())
        with torch.no_grad():
            out = wrapper(torch.tensor([seq], dtype=torch.int64))
        return out[:, -1, :]

    return step


def export_kv_variant(make_decoder, variant: str, max_seq_len: int, constant_methods: dict, out_path: Path) -> dict:
    import torch
    from executorch.exir import EdgeCompileConfig, to_edge, to_edge_transform_and_lower

    _, _, delegate = VARIANT_INFO[variant]
    t0 = time.monotonic()
    decoder = make_decoder(variant)
    tokens = torch.tensor([[2, 3, 4]], dtype=torch.int64)
    input_pos = torch.tensor([0], dtype=torch.int64)
    token_dim = torch.export.Dim("token_dim", min=1, max=max_seq_len - 1)
    t1 = time.monotonic()
    LOG.info("[kv-%s] torch.export.export (dynamic token dim 1..%d) ...", variant, max_seq_len - 1)
    with torch.no_grad():
        ep = torch.export.export(decoder, (tokens, input_pos), dynamic_shapes=({1: token_dim}, None), strict=False)
    t2 = time.monotonic()
    cfg = EdgeCompileConfig(_check_ir_validity=False)
    if delegate is None:
        LOG.info("[kv-%s] to_edge ...", variant)
        edge = to_edge(ep, constant_methods=constant_methods, compile_config=cfg)
    else:
        from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner

        LOG.info("[kv-%s] to_edge_transform_and_lower(XnnpackPartitioner) ...", variant)
        edge = to_edge_transform_and_lower(ep, partitioner=[XnnpackPartitioner()], constant_methods=constant_methods,
                                           compile_config=cfg)
    t3 = time.monotonic()
    LOG.info("[kv-%s] to_executorch ...", variant)
    et = edge.to_executorch()
    data = et.buffer
    tmp = out_path.with_suffix(out_path.suffix + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, out_path)
    t4 = time.monotonic()
    LOG.info("[kv-%s] wrote %s (%.2f MB, %d delegate call(s)); model %.1fs, export %.1fs, edge/lower %.1fs, "
             "to_executorch %.1fs, total %.1fs", variant, out_path, len(data) / 1e6, _count_delegates(et),
             t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0)
    return {"seconds": t4 - t0}


def kv_main(args, make_model, config, config_json: dict, file_prefix: str, versions: dict) -> int:
    """--kv-cache: export the KV-cache variants, check them, add them to manifest-llm.json."""
    import torch

    el = _export_llm()
    Decoder = make_kv_cls()
    max_seq_len = args.max_seq_len
    if max_seq_len < 2:
        raise ExportError("--max-seq-len must be >= 2")
    need = max(el.PROMPT_LENS) + el.N_GENERATED - 1
    if max_seq_len < need:
        raise ExportError(f"--max-seq-len {max_seq_len} < {need} (longest recorded prompt + generated ids)")
    out_dir: Path = args.out_dir
    const = kv_constant_methods(config, max_seq_len)
    vocab = int(config.vocab_size)

    def make_decoder(variant):
        dtype_name = VARIANT_INFO[variant][0]
        dtype = getattr(torch, dtype_name)
        model = quantize(make_model(dtype), variant)
        return Decoder(model, max_seq_len, dtype).eval()

    # 1. Correctness of the cache itself (fp32 eager): cached greedy == no-cache greedy, prompts longer
    #    than the sliding window included.
    eager_vs_hf = hf_diff = cached = None
    if args.eager_check:
        eager_vs_hf, hf_diff, cached = _kv_check_against_hf(Decoder, make_model, max_seq_len, vocab, config)
    else:
        LOG.warning("[kv] --no-eager-check: the cache is not compared with the no-cache model, programs not with eager")

    entries = []
    for variant in args.variants:
        name = f"{file_prefix}-kv-{variant}"
        out_path = out_dir / f"{name}.pte"
        if args.measure_only:
            if not out_path.is_file():
                raise ExportError(f"--measure-only: {out_path} does not exist")
            prev = next((v for v in (el.read_manifest(out_dir / el.MANIFEST_NAME) or {}).get("variants", [])
                         if v.get("name") == name), {})
            res = {"seconds": prev.get("export_seconds")}
        else:
            res = export_kv_variant(make_decoder, variant, max_seq_len, const, out_path)
        m = el.measure_program(out_path, check_token_by_token=args.eager_check, keep_logits=True)
        if m["metadata"] != const:
            raise ExportError(f"[kv-{variant}] constant methods {m['metadata']} != {const}")
        dtype_name, quant, delegate = VARIANT_INFO[variant]
        if args.eager_check:
            dec = make_decoder(variant)
            kv_facts = kv_cache_facts(dec)
            eager_ref, eager_eq = _kv_compare_eager(el, dec, m, vocab, cached, variant)
            del dec
        else:
            kv_facts = kv_cache_facts(Decoder(_meta_model(config), max_seq_len, getattr(torch, dtype_name)))
            eager_ref, eager_eq = None, None
        if eager_ref is not None:
            eager_ref["fp32_cached_equals_hf_no_cache"] = eager_vs_hf
            eager_ref["fp32_cached_vs_hf_no_cache_max_abs_logit_diff"] = hf_diff
        checked = {
            "one_call_prefill_equals_token_by_token": m["tbt_equal"],
            "static_equals_dynamic": None,
            "finite": m["finite"],
            "eager_equals_program": eager_eq,
        }
        extra = {
            "export_command": (f"python scripts/export_gemma3n.py --kv-cache --max-seq-len {max_seq_len} "
                               f"--variants {variant}" + (f" --hf-dir {args.hf_dir}" if args.hf_dir else "")),
            "note": KV_NOTE,
            "model": {"shape": "hf" if args.hf_dir else args.shape, "seed": None if args.hf_dir else args.seed,
                      "noise_std": None if args.hf_dir else NOISE_STD, "config": config_json,
                      "same_weights_as": None if args.hf_dir else f"{file_prefix}-{variant}.pte (manifest.json)"},
            "eager_reference": eager_ref,
            "export_seconds": round(res["seconds"], 1) if res["seconds"] is not None else None,
        }
        entries.append(el.variant_entry(name, out_path, m, family="gemma3n", exporter=KV_EXPORTER, delegate=delegate,
                                        weight_dtype={"int8": "int8", "xnnpack-8da4w": "int4"}.get(variant, dtype_name),
                                        quantization=quant, kv_cache=kv_facts, checked=checked, extra=extra))
    old = el.read_manifest(out_dir / el.MANIFEST_NAME) or {}
    names = {e["name"] for e in entries}
    keep = [v for v in old.get("variants", []) if v.get("family") == "gemma3n" and v["name"] not in names]
    el.write_manifest(out_dir, "gemma3n", keep + entries)
    for e in entries:
        LOG.info("  %-36s %9d bytes  %s  eager==program %s", e["name"], e["size_bytes"], e["sha256"][:16],
                 e["checked"]["eager_equals_program"])
    return 0


def _meta_model(config):
    """A weightless (meta) Gemma3nForCausalLM, only to read the cache layout."""
    import torch
    from transformers.models.gemma3n.modeling_gemma3n import Gemma3nForCausalLM

    with torch.device("meta"):
        return Gemma3nForCausalLM(config)


def _kv_check_against_hf(Decoder, make_model, max_seq_len, vocab, config):
    import torch

    el = _export_llm()
    t0 = time.monotonic()
    fp32_model = make_model(torch.float32)
    ref_dec = Decoder(fp32_model, max_seq_len, torch.float32).eval()
    cached = el.run_generations(kv_eager_step(ref_dec), vocab, True, keep_logits=True)
    cached_tbt = el.run_generations(kv_eager_step(ref_dec), vocab, True, token_by_token=True)
    nocache = el.run_generations(nocache_step(fp32_model), vocab, True, keep_logits=True)
    eager_vs_hf = el.same_ids(cached, nocache)
    hf_diff = el.max_logit_diff(cached, nocache) if eager_vs_hf else None
    LOG.info("[kv] fp32 eager: cached == no-cache HF (prompts %s, window %d): %s (max |logit diff| %s); "
             "cached one-call == token-by-token: %s (%.1fs)", list(el.PROMPT_LENS), config.sliding_window,
             eager_vs_hf, f"{hf_diff:.3g}" if hf_diff is not None else "-", el.same_ids(cached, cached_tbt),
             time.monotonic() - t0)
    if not eager_vs_hf:
        raise ExportError(f"fp32 eager cached model != no-cache HF model ({el.first_difference(cached, nocache)})")
    return eager_vs_hf, hf_diff, cached


def _kv_compare_eager(el, dec, m, vocab, cached, variant):
    """Program generations vs the same decoder (same dtype/quantisation) in eager PyTorch."""
    import torch

    eager = el.run_generations(kv_eager_step(dec), vocab, True, keep_logits=True)
    eager_eq = el.same_ids(m["_gens"], eager)
    # logits rows line up while the ids agree (after a divergence they belong to different sequences)
    diff = el.max_logit_diff(m["_gens"], eager) if eager_eq else None
    agree = sum(sum(int(a == b) for a, b in zip(g1["generated"], g2["generated"]))
                for g1, g2 in zip(m["_gens"], eager))
    total = sum(len(g["generated"]) for g in eager)
    first_div = [next((i for i, (a, b) in enumerate(zip(g1["generated"], g2["generated"])) if a != b), None)
                 for g1, g2 in zip(m["_gens"], eager)]
    # first-step logits (the prefill) always line up: their max |diff| says how far the kernels drift
    prefill_diff = max(float((g1["_logits"][0].double() - g2["_logits"][0].double()).abs().max())
                       for g1, g2 in zip(m["_gens"], eager))
    vs_fp32 = el.same_ids(m["_gens"], cached) if cached is not None else None
    # Teacher forcing: feed the program's own sequence (prompt + its generated ids) to the eager decoder, so every
    # step sees the same context; compare its argmax with the program's id at every step.
    tf_agree, tf_total, tf_diff = 0, 0, 0.0
    step = kv_eager_step(dec)
    for g in m["_gens"]:
        p, gen = g["prompt_ids"], g["generated"]
        rows = [step(torch.tensor([p], dtype=torch.int64), torch.tensor([0], dtype=torch.int64))]
        for j, tok in enumerate(gen[:-1]):
            rows.append(step(torch.tensor([[tok]], dtype=torch.int64), torch.tensor([len(p) + j], dtype=torch.int64)))
        for j, (r, prow) in enumerate(zip(rows, g["_logits"])):
            r = r.reshape(-1).to(torch.float32)
            tf_agree += int(el.first_argmax(r) == gen[j])
            tf_total += 1
            tf_diff = max(tf_diff, float((r.double() - prow.double()).abs().max()))
    LOG.info("[kv-%s] program == eager cached (%s): %s (%d/%d ids agree position-wise, first divergence per "
             "prompt %s, max |logit diff| %s, prefill logits max |diff| %.3g; teacher-forced argmax agreement "
             "%d/%d, max |logit diff| %.3g); == fp32 eager: %s; finite %s; one-call == token-by-token %s",
             variant, VARIANT_INFO[variant][0], eager_eq, agree, total, first_div,
             f"{diff:.3g}" if diff is not None else "-", prefill_diff, tf_agree, tf_total, tf_diff, vs_fp32,
             m["finite"], m["tbt_equal"])
    if variant == "xnnpack-fp32" and not eager_eq:
        raise ExportError(f"[kv-{variant}] program != fp32 eager cached model ({el.first_difference(m['_gens'], eager)})")
    dtype_name, quant, _ = VARIANT_INFO[variant]
    return {
        "model": f"Gemma3nKVDecoder in eager PyTorch, {dtype_name}" + (f", {quant}" if quant != "none" else ""),
        "ids_agree": f"{agree}/{total}",
        "first_divergence_per_prompt": first_div,
        "max_abs_logit_diff": diff,
        "prefill_max_abs_logit_diff": prefill_diff,
        "teacher_forced": {"argmax_agree": f"{tf_agree}/{tf_total}", "max_abs_logit_diff": tf_diff,
                           "how": "eager decoder fed the program's prompt + generated ids; argmax compared per step"},
        "program_equals_fp32_eager_cached": vs_fp32,
    }, eager_eq


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
    p.add_argument("--kv-cache", action="store_true",
                   help="export KV-cache decoders instead (forward(tokens [1,S], input_pos [1]) -> last logits; "
                        "<prefix>-kv-<variant>.pte + entries in manifest-llm.json; manifest.json untouched)")
    p.add_argument("--max-seq-len", type=int, default=None,
                   help="--kv-cache: cache length = max context (default 128; 1024 with --hf-dir)")
    p.add_argument("--measure-only", action="store_true",
                   help="--kv-cache: do not export; measure the existing <prefix>-kv-<variant>.pte files and "
                        "rewrite their manifest-llm.json entries")
    p.add_argument("--eager-check", action=argparse.BooleanOptionalAction, default=None,
                   help="--kv-cache: compare with eager PyTorch (fp32 no-cache HF model, eager cached model per "
                        "variant) and the token-by-token prefill (default: on, off with --hf-dir: a real model "
                        "needs ~30 GB for the fp32 reference)")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    bad = [v for v in variants if v not in ALL_VARIANTS]
    if bad or not variants:
        p.error(f"--variants: unknown {bad or 'empty list'}; choose from {','.join(ALL_VARIANTS)}")
    args.variants = [v for v in ALL_VARIANTS if v in variants]  # canonical order, no dups
    if args.window < 1:
        p.error("--window must be >= 1")
    if args.max_seq_len is not None and not args.kv_cache:
        p.error("--max-seq-len needs --kv-cache")
    if args.kv_cache and args.max_seq_len is None:
        args.max_seq_len = 1024 if args.hf_dir is not None else 128
    if args.measure_only and not args.kv_cache:
        p.error("--measure-only needs --kv-cache")
    if args.eager_check is not None and not args.kv_cache:
        p.error("--eager-check/--no-eager-check need --kv-cache")
    if args.eager_check is None:
        args.eager_check = args.hf_dir is None
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

    if args.kv_cache:
        ret = kv_main(args, make_model, config, config_json, file_prefix, versions)
        LOG.info("total %.1fs", time.monotonic() - t_start)
        return ret

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
