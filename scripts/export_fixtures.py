#!/usr/bin/env python3
"""Export small random-weight ExecuTorch programs that are not token-in/logits-out LLMs (etbench fixtures).

Usage (after `bash scripts/setup-export-env.sh`):

    .venv-export/bin/python scripts/export_fixtures.py                      # both fixtures + manifest -> models/
    .venv-export/bin/python scripts/export_fixtures.py --out-dir /tmp/fx    # somewhere else (tests compare it)
    .venv-export/bin/python scripts/export_fixtures.py --variants convnet-fp32
    .venv-export/bin/python scripts/export_fixtures.py --check              # re-export to a temp dir, compare with
                                                                            # models/manifest-fixtures.json; exit 1 on mismatch

Fixtures (float32 weights, fixed seed, plain `to_edge` -> `to_executorch`: portable/optimized kernels only, no
delegate, so they run with ExecuTorch 1.5.1's libexecutorch_kernels_optimized.so):
    convnet-fp32      : x float32 [1,3,32,32] -> conv(3->8,3x3,pad 1) -> relu -> maxpool 2x2 -> conv(8->16,3x3,pad 1)
                        -> relu -> global mean -> linear(16->10)  => logits float32 [1,10]
    decoder-step-fp32 : the shape of a KV-cache decoder step: tokens int64 [1,1], input_pos int64 [1,1]
                        -> token embedding (512x64) + position embedding (64x64) -> layer_norm
                        -> gated MLP (down(relu(gate(x)) * up(x)), 64->128->64) residual -> final layer_norm = hidden
                        -> lm_head (64->512, no bias)  => (logits float32 [1,1,512], hidden float32 [1,1,64])
Weights come from SplitMix64 in pure Python (not torch's RNG), so they do not depend on torch's init code.

Default inputs (etbench's runner generates exactly the same bytes): integer tensor -> spec `ids`,
float tensor -> spec `random:0`.
    ids          element i (flat, row-major) = 2 + (i*31) % 509
    random:SEED  SplitMix64 over the flat index: state = SEED; per element state += 0x9E3779B97F4A7C15,
                 z = state; z = (z ^ z>>30) * 0xBF58476D1CE4E5B9; z = (z ^ z>>27) * 0x94D049BB133111EB; z ^= z>>31
                 (wrapping u64). float: u = (z>>40) / 2**24, value = 2u - 1 in float64, cast to the dtype;
                 integer: (z>>33) % 100; bool: z>>63.
Each .pte is run with ExecuTorch's Python runtime and in eager PyTorch (must be allclose); the runtime's outputs
are recorded in manifest-fixtures.json (argmax_last, sums in float64, per output), with the sha256 of each .pte
and of each input's raw little-endian bytes.

Everything is logged to stderr; nothing is printed on stdout. Exit status: 0 ok, 1 --check mismatch, 2 error.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import os
import struct
import sys
import tempfile
import time
from pathlib import Path

LOG = logging.getLogger("export_fixtures")

REPO_ROOT = Path(__file__).resolve().parent.parent
MANIFEST_NAME = "manifest-fixtures.json"
ALL_VARIANTS = ("convnet-fp32", "decoder-step-fp32")
IDS_FORMULA = "2 + (i*31) % 509"
SUM_RTOL = 1e-4  # --check: |sum - expected| <= SUM_RTOL * max(|expected|, 1)
EAGER_RTOL, EAGER_ATOL = 1e-4, 1e-5  # ExecuTorch runtime vs eager PyTorch

MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15

# dtype name -> (struct code, kind); kind: f = float, i = integer, b = bool
DTYPES = {
    "float64": ("d", "f"), "float32": ("f", "f"), "float16": ("e", "f"), "bfloat16": (None, "f"),
    "int64": ("q", "i"), "int32": ("i", "i"), "int16": ("h", "i"), "int8": ("b", "i"), "uint8": ("B", "i"),
    "bool": ("?", "b"),
}


class ExportError(Exception):
    """A user-facing error: printed without a traceback, exit code 2."""


# --------------------------------------------------------------------------------------
# Input generator (must match etbench's Rust implementation byte for byte)
# --------------------------------------------------------------------------------------

def splitmix64(seed: int, n: int) -> list[int]:
    """n successive SplitMix64 outputs starting from state `seed` (all arithmetic wrapping u64)."""
    state = seed & MASK64
    out = []
    for _ in range(n):
        state = (state + GOLDEN) & MASK64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        out.append(z ^ (z >> 31))
    return out


def unit_floats(seed: int, n: int) -> list[float]:
    """n floats 2u-1 in [-1, 1), u = (z >> 40) / 2**24 (exact in float32)."""
    return [2.0 * ((z >> 40) / 16777216.0) - 1.0 for z in splitmix64(seed, n)]


def default_spec(dtype: str) -> str:
    return "random:0" if DTYPES[dtype][1] == "f" else "ids"


def input_values(spec: str, dtype: str, numel: int) -> list:
    """Python values (float64 floats / ints / bools) for `spec`, before the cast to `dtype`."""
    kind = DTYPES[dtype][1]
    if spec == "ids":
        if kind == "b":
            raise ExportError("spec ids is not defined for bool tensors")
        return [2 + (i * 31) % 509 for i in range(numel)]
    if spec.startswith("random:"):
        try:
            seed = int(spec.split(":", 1)[1], 0)
        except ValueError as e:
            raise ExportError(f"bad input spec {spec!r}: want random:SEED") from e
        if not 0 <= seed <= MASK64:
            raise ExportError(f"bad input spec {spec!r}: seed must fit in u64")
        zs = splitmix64(seed, numel)
        if kind == "f":
            return [2.0 * ((z >> 40) / 16777216.0) - 1.0 for z in zs]
        if kind == "i":
            return [(z >> 33) % 100 for z in zs]
        return [bool(z >> 63) for z in zs]
    raise ExportError(f"unknown input spec {spec!r} (want ids or random:SEED)")


def make_input(spec: str, dtype: str, sizes: list[int]):
    """(torch tensor, sha256 of its raw little-endian bytes)."""
    import torch

    numel = math.prod(sizes)
    vals = input_values(spec, dtype, numel)
    t = torch.tensor(vals, dtype=torch.float64 if DTYPES[dtype][1] == "f" else None)
    t = t.to(getattr(torch, dtype)).reshape(sizes).contiguous()
    raw = tensor_bytes(t)
    code = DTYPES[dtype][0]
    if code is not None:  # cross-check torch's cast/bytes against struct (little-endian by definition)
        ref = struct.pack(f"<{numel}{code}", *vals)
        if ref != raw:
            raise ExportError(f"input {spec} {dtype}{sizes}: torch bytes differ from struct.pack bytes")
    return t, hashlib.sha256(raw).hexdigest()


def tensor_bytes(t) -> bytes:
    import torch

    u8 = t.contiguous().reshape(-1).view(torch.uint8)
    data = u8.numpy().tobytes()
    if sys.byteorder != "little" and t.element_size() > 1:
        raise ExportError("big-endian host: raw input bytes would not be little-endian")
    return data


def _self_test_generator():
    # Published SplitMix64 reference values for seed 0.
    got = splitmix64(0, 3)
    want = [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F]
    if got != want:
        raise ExportError(f"SplitMix64 self-test failed: {[hex(x) for x in got]}")


# --------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------

def make_models():
    import torch
    from torch import nn

    class ConvNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
            self.pool = nn.MaxPool2d(2)
            self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
            self.fc = nn.Linear(16, 10)

        def forward(self, x):
            x = self.pool(torch.relu(self.conv1(x)))  # [1,8,16,16]
            x = torch.relu(self.conv2(x))  # [1,16,16,16]
            x = x.mean(dim=(2, 3))  # global average pool -> [1,16]
            return self.fc(x)  # [1,10]

    class DecoderStep(nn.Module):
        """One decode step without attention: the inputs/outputs of a KV-cache decoder step."""

        def __init__(self, vocab=512, dim=64, max_pos=64, hidden=128):
            super().__init__()
            self.tok_emb = nn.Embedding(vocab, dim)
            self.pos_emb = nn.Embedding(max_pos, dim)
            self.norm1 = nn.LayerNorm(dim)
            self.gate = nn.Linear(dim, hidden)
            self.up = nn.Linear(dim, hidden)
            self.down = nn.Linear(hidden, dim)
            self.norm_f = nn.LayerNorm(dim)
            self.lm_head = nn.Linear(dim, vocab, bias=False)

        def forward(self, tokens, input_pos):
            h = self.tok_emb(tokens) + self.pos_emb(input_pos)  # [1,1,64]
            x = self.norm1(h)
            h = h + self.down(torch.relu(self.gate(x)) * self.up(x))
            hidden = self.norm_f(h)
            return self.lm_head(hidden), hidden  # [1,1,512], [1,1,64]

    return {
        "convnet-fp32": {
            "cls": ConvNet,
            "inputs": [("x", "float32", [1, 3, 32, 32])],
            "outputs": [("logits", "float32", [1, 10])],
            "description": "conv(3->8,3x3)-relu-maxpool2-conv(8->16,3x3)-relu-mean(H,W)-linear(16->10)",
        },
        "decoder-step-fp32": {
            "cls": DecoderStep,
            "inputs": [("tokens", "int64", [1, 1]), ("input_pos", "int64", [1, 1])],
            "outputs": [("logits", "float32", [1, 1, 512]), ("hidden", "float32", [1, 1, 64])],
            "description": "tok_emb(512x64)+pos_emb(64x64)-layer_norm-gated MLP 64->128->64 (residual)"
                           "-layer_norm=hidden-lm_head(64->512)",
        },
    }


def init_weights(model, seed: int, variant_index: int):
    """Fill every parameter from its own SplitMix64 stream (torch-version independent):
    weights/biases of conv/linear uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)); embeddings uniform(-1, 1);
    layer_norm weight 1 + 0.1*u, bias 0.1*u."""
    import torch
    from torch import nn

    k = 0
    with torch.no_grad():
        for mod_name, mod in model.named_modules():
            for p_name, p in mod.named_parameters(recurse=False):
                stream = ((seed & 0xFFFFFFFF) << 32) | (variant_index << 16) | k
                k += 1
                u = torch.tensor(unit_floats(stream, p.numel()), dtype=torch.float64).reshape(p.shape)
                if isinstance(mod, (nn.Conv2d, nn.Linear)):
                    fan_in = mod.weight[0].numel()
                    val = u / math.sqrt(fan_in)
                elif isinstance(mod, nn.Embedding):
                    val = u
                elif isinstance(mod, nn.LayerNorm):
                    val = 1.0 + 0.1 * u if p_name == "weight" else 0.1 * u
                else:
                    raise ExportError(f"no init rule for {type(mod).__name__}.{p_name} ({mod_name})")
                p.copy_(val.to(p.dtype))
        if k == 0:
            raise ExportError("model has no parameters")


# --------------------------------------------------------------------------------------
# Export / run
# --------------------------------------------------------------------------------------

def kernel_lib_ops() -> tuple[Path | None, bytes | None]:
    """Bytes of the wheel's libexecutorch_kernels_optimized.so (op names are plain strings in it)."""
    import importlib.util

    spec = importlib.util.find_spec("executorch")
    locs = list(spec.submodule_search_locations or []) if spec else []
    for loc in locs:
        p = Path(loc) / "lib" / "libexecutorch_kernels_optimized.so"
        if p.is_file():
            return p, p.read_bytes()
    return None, None


def program_ops(et) -> list[str]:
    ops = []
    for plan in et.executorch_program.execution_plan:
        for op in plan.operators:
            name = f"{op.name}.{op.overload}" if op.overload else op.name
            if name not in ops:
                ops.append(name)
    return ops


def n_delegates(et) -> int:
    return sum(len(plan.delegates) for plan in et.executorch_program.execution_plan)


def export_variant(name: str, info: dict, index: int, seed: int, out_path: Path, inputs) -> dict:
    import torch
    from executorch.exir import to_edge

    t0 = time.monotonic()
    torch.manual_seed(seed)
    model = info["cls"]().eval()
    init_weights(model, seed, index)
    n_params = sum(p.numel() for p in model.parameters())
    with torch.no_grad():
        eager = model(*inputs)
        eager = list(eager) if isinstance(eager, (tuple, list)) else [eager]
        LOG.info("[%s] %d params; torch.export.export ...", name, n_params)
        ep = torch.export.export(model, tuple(inputs), strict=False)
    edge = to_edge(ep)
    edge_ops = sorted({getattr(n.target, "__name__", str(n.target)) for n in edge.exported_program().graph.nodes if n.op == "call_function"})
    et = edge.to_executorch()
    if n_delegates(et):
        raise ExportError(f"[{name}] program has delegates; fixtures must use portable/optimized kernels only")
    data = et.buffer
    tmp = out_path.with_suffix(out_path.suffix + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, out_path)
    ops = program_ops(et)
    dt = time.monotonic() - t0
    LOG.info("[%s] wrote %s (%d bytes) in %.1fs; program ops: %s", name, out_path, len(data), dt, ", ".join(ops))
    LOG.debug("[%s] edge graph ops: %s", name, ", ".join(edge_ops))
    return {"eager": eager, "ops": ops, "edge_ops": edge_ops, "n_params": n_params, "size": len(data), "seconds": dt}


def run_pte(path: Path, inputs) -> list:
    from executorch.runtime import Runtime

    runtime = Runtime.get()
    program = runtime.load_program(str(path))
    method = program.load_method("forward")
    return list(method.execute(list(inputs)))


def summarize_output(t) -> dict:
    import torch

    x = t.detach()
    if x.dim() == 0:
        raise ExportError("scalar output: argmax_last undefined")
    rows = x.reshape(-1, x.shape[-1])
    return {
        "dtype": str(x.dtype).replace("torch.", ""),
        "sizes": list(x.shape),
        "sum": float(x.to(torch.float64).sum()),
        "argmax_last": int(rows[-1].to(torch.float64).argmax()),  # first maximal index on ties
    }


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def export_all(out_dir: Path, variants: list[str], seed: int) -> dict:
    import torch

    models = make_models()
    out_dir.mkdir(parents=True, exist_ok=True)
    kpath, kbytes = kernel_lib_ops()
    if kbytes is None:
        LOG.warning("libexecutorch_kernels_optimized.so not found in the executorch wheel: op coverage not checked")
    entries = []
    for name in variants:
        info = models[name]
        index = ALL_VARIANTS.index(name)
        inputs, in_entries = [], []
        for in_name, dtype, sizes in info["inputs"]:
            spec = default_spec(dtype)
            t, digest = make_input(spec, dtype, sizes)
            inputs.append(t)
            in_entries.append({"name": in_name, "spec": spec, "dtype": dtype, "sizes": sizes, "sha256": digest})
        out_path = out_dir / f"{name}.pte"
        res = export_variant(name, info, index, seed, out_path, inputs)
        if kbytes is not None:
            missing = [op for op in res["ops"] if (op.encode() + b"\0") not in kbytes]
            if missing:
                raise ExportError(f"[{name}] ops not registered by {kpath.name}: {missing}")
        LOG.info("[%s] running with ExecuTorch's Python runtime ...", name)
        outs = run_pte(out_path, inputs)
        if len(outs) != len(info["outputs"]):
            raise ExportError(f"[{name}] expected {len(info['outputs'])} outputs, got {len(outs)}")
        summaries = []
        for (o_name, o_dtype, o_sizes), got, ref in zip(info["outputs"], outs, res["eager"]):
            s = summarize_output(got)
            if s["dtype"] != o_dtype or s["sizes"] != o_sizes:
                raise ExportError(f"[{name}] output {o_name}: got {s['dtype']}{s['sizes']}, want {o_dtype}{o_sizes}")
            if not bool(torch.isfinite(got).all()):
                raise ExportError(f"[{name}] output {o_name} has NaN/Inf")
            diff = float((got.to(torch.float64) - ref.to(torch.float64)).abs().max())
            if not torch.allclose(got, ref, rtol=EAGER_RTOL, atol=EAGER_ATOL):
                raise ExportError(f"[{name}] output {o_name}: ExecuTorch runtime and eager PyTorch disagree "
                                  f"(max |diff| {diff:.3g} > rtol {EAGER_RTOL} / atol {EAGER_ATOL})")
            LOG.info("[%s] output %s %s%s: sum %.6f, argmax_last %d; runtime vs eager max |diff| %.3g",
                     name, o_name, s["dtype"], s["sizes"], s["sum"], s["argmax_last"], diff)
            summaries.append({"name": o_name, **s})
        entries.append({
            "name": name,
            "file": out_path.name,
            "sha256": sha256_file(out_path),
            "size_bytes": res["size"],
            "description": info["description"],
            "params": res["n_params"],
            "weight_dtype": "float32",
            "delegate": None,
            "ops": res["ops"],
            "inputs": in_entries,
            "expected": {
                "argmax_last": summaries[0]["argmax_last"],
                "output_shape": summaries[0]["sizes"],
                "logits_sum": summaries[0]["sum"],
                "outputs": summaries,
            },
        })
    import importlib.metadata as md

    return {
        "schema_version": 1,
        "generator": "scripts/export_fixtures.py",
        "versions": {p: md.version(p) for p in ("torch", "executorch")},
        "seed": seed,
        "input_rules": {
            "ids": IDS_FORMULA,
            "random": "splitmix64, see scripts/export_fixtures.py",
            "default": "integer tensor -> ids, float tensor -> random:0",
        },
        "argmax_tie_break": "first maximal index",
        "variants": entries,
    }


def write_manifest(manifest: dict, path: Path):
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    os.replace(tmp, path)


# --------------------------------------------------------------------------------------
# --check
# --------------------------------------------------------------------------------------

def check(manifest_path: Path, keep_dir: Path | None) -> int:
    try:
        want = json.loads(manifest_path.read_text())
        want_variants = {v["name"]: v for v in want["variants"]}
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ExportError(f"cannot read manifest {manifest_path}: {e}") from e
    unknown = [n for n in want_variants if n not in ALL_VARIANTS]
    if unknown:
        raise ExportError(f"{manifest_path}: unknown variant(s) {unknown}")
    names = [n for n in ALL_VARIANTS if n in want_variants]
    seed = int(want.get("seed", 0))
    tmp_ctx = None
    if keep_dir is not None:
        work = keep_dir
    else:
        tmp_ctx = tempfile.TemporaryDirectory(prefix="etbench-fixtures-check-")
        work = Path(tmp_ctx.name)
    LOG.info("--check: re-exporting %s into %s (seed %d)", ", ".join(names), work, seed)
    try:
        got = export_all(work, names, seed)
    finally:
        if tmp_ctx is not None:
            tmp_ctx.cleanup()
    problems, notes = [], []
    for g in got["variants"]:
        name = g["name"]
        w = want_variants[name]
        committed = manifest_path.parent / w.get("file", "")
        if committed.is_file() and sha256_file(committed) != w.get("sha256"):
            problems.append(f"{name}: {committed} does not match the manifest's sha256 (stale manifest or file)")
        notes.append(f"{name}: re-exported .pte is {'byte-identical' if g['sha256'] == w.get('sha256') else 'NOT byte-identical'}")
        w_in = [{k: i.get(k) for k in ("spec", "dtype", "sizes", "sha256")} for i in w.get("inputs", [])]
        g_in = [{k: i[k] for k in ("spec", "dtype", "sizes", "sha256")} for i in g["inputs"]]
        if w_in != g_in:
            problems.append(f"{name}: inputs differ: manifest {w_in} vs generated {g_in}")
        w_out = w.get("expected", {}).get("outputs", [])
        g_out = g["expected"]["outputs"]
        if len(w_out) != len(g_out):
            problems.append(f"{name}: manifest lists {len(w_out)} outputs, program has {len(g_out)}")
            continue
        for k, (wo, go) in enumerate(zip(w_out, g_out)):
            if (wo.get("dtype"), wo.get("sizes")) != (go["dtype"], go["sizes"]):
                problems.append(f"{name} output {k}: {go['dtype']}{go['sizes']} vs manifest {wo.get('dtype')}{wo.get('sizes')}")
            if wo.get("argmax_last") != go["argmax_last"]:
                problems.append(f"{name} output {k}: argmax_last {go['argmax_last']} vs manifest {wo.get('argmax_last')}")
            ws = wo.get("sum")
            if not isinstance(ws, (int, float)) or abs(go["sum"] - ws) > SUM_RTOL * max(abs(ws), 1.0):
                problems.append(f"{name} output {k}: sum {go['sum']!r} vs manifest {ws!r} (tolerance {SUM_RTOL} relative)")
        we = w.get("expected", {})
        if we.get("argmax_last") != g["expected"]["argmax_last"] or we.get("output_shape") != g["expected"]["output_shape"]:
            problems.append(f"{name}: expected.argmax_last/output_shape differ from the manifest")
    for n in notes:
        LOG.info("--check: %s", n)
    if problems:
        for p in problems:
            LOG.error("--check: %s", p)
        LOG.error("--check FAILED against %s (%d problem(s))", manifest_path, len(problems))
        return 1
    LOG.info("--check OK: %s reproduced (%s)", manifest_path, ", ".join(names))
    return 0


# --------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------

def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out-dir", type=Path, default=REPO_ROOT / "models",
                   help=f"output directory for the .pte files and {MANIFEST_NAME} (default: <repo>/models)")
    p.add_argument("--variants", default=",".join(ALL_VARIANTS),
                   help=f"comma list of {','.join(ALL_VARIANTS)} (default: all)")
    p.add_argument("--seed", type=int, default=0, help="weight seed (default 0)")
    p.add_argument("--check", action="store_true",
                   help="re-export into a temp dir and compare with --manifest; exit 1 on mismatch (writes nothing)")
    p.add_argument("--manifest", type=Path, default=None,
                   help=f"manifest for --check (default: <out-dir>/{MANIFEST_NAME})")
    p.add_argument("--keep", type=Path, default=None, help="--check: export into this directory instead of a temp dir")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    bad = [v for v in variants if v not in ALL_VARIANTS]
    if bad or not variants:
        p.error(f"--variants: unknown {bad or 'empty list'}; choose from {','.join(ALL_VARIANTS)}")
    args.variants = [v for v in ALL_VARIANTS if v in variants]
    if not 0 <= args.seed < 2**32:
        p.error("--seed must be in [0, 2**32)")
    if args.manifest is not None and not args.check:
        p.error("--manifest only makes sense with --check")
    if args.keep is not None and not args.check:
        p.error("--keep only makes sense with --check")
    return args


def ensure_fixed_hash_seed():
    """Same guard as export_gemma3n.py: fixed str hashing, so set iteration order cannot change the bytes."""
    if os.environ.get("PYTHONHASHSEED") != "0":
        os.environ["PYTHONHASHSEED"] = "0"
        os.execv(sys.executable, [sys.executable, os.path.abspath(__file__), *sys.argv[1:]])


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S")
    _self_test_generator()
    t0 = time.monotonic()
    if args.check:
        manifest_path = args.manifest or (args.out_dir / MANIFEST_NAME)
        if not manifest_path.is_file():
            raise ExportError(f"--check: no manifest at {manifest_path}")
    try:
        import torch
        import executorch.exir  # noqa: F401
        from executorch.runtime import Runtime  # noqa: F401
    except ImportError as e:
        raise ExportError(f"{e}; run `bash scripts/setup-export-env.sh` and use .venv-export/bin/python") from e
    if args.check:
        rc = check(manifest_path, args.keep)
        LOG.info("total %.1fs", time.monotonic() - t0)
        return rc
    manifest = export_all(args.out_dir, args.variants, args.seed)
    mpath = args.out_dir / MANIFEST_NAME
    write_manifest(manifest, mpath)
    LOG.info("wrote %s; total %.1fs", mpath, time.monotonic() - t0)
    for v in manifest["variants"]:
        LOG.info("  %-18s %8d bytes  argmax_last %4d  %s", v["name"], v["size_bytes"],
                 v["expected"]["argmax_last"], v["sha256"][:16])
    return 0


if __name__ == "__main__":
    ensure_fixed_hash_seed()
    try:
        sys.exit(main())
    except ExportError as e:
        print(f"export_fixtures: error: {e}", file=sys.stderr)
        sys.exit(2)
