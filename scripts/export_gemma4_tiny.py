"""A tiny random-weight Gemma 4 made with ExecuTorch's own exporter (the wheel's
executorch/examples/models/gemma4/export_gemma4.py, export_single_pte), text only:
  .venv-export/bin/python scripts/export_gemma4_tiny.py harness/tests/integration/data/gemma4-tiny-text.pte
The program has one method, text_decoder(input_ids int64[1, S], input_pos int64[S], inputs_embeds float32[1, S,
hidden]) with S dynamic, logits for the last position, the KV cache in mutable buffers, and no forward and no
metadata methods: what ExecuTorch's Gemma 4 E2B/E4B export looks like, at a shape a test can run in seconds.
The architecture is Gemma 4's (sliding/full layers, one KV head, per-layer embeddings, KV sharing); only the sizes
are small: Gemma4Config.from_config knows only the real variants, so it is replaced by a tiny config here (at run
time, never editing the installed package).
"""
import sys

import torch

from executorch.examples.models.gemma4 import export_gemma4
from executorch.examples.models.gemma4.text_decoder import gemma4_config, gemma4_model


def tiny_config(cls, variant="e2b"):
    return cls(
        hidden_size=128,
        num_hidden_layers=4,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=32,
        global_head_dim=64,
        vocab_size=512,
        intermediate_size=256,
        use_double_wide_mlp=False,
        max_position_embeddings=2048,
        sliding_window=8,
        layer_types=["sliding_attention", "full_attention", "sliding_attention", "full_attention"],
        query_pre_attn_scalar=32,
        hidden_size_per_layer_input=16,
        vocab_size_per_layer_input=512,
        num_kv_shared_layers=2,
    )


gemma4_config.Gemma4Config.from_config = classmethod(tiny_config)
_random_init = gemma4_model.Gemma4Model._init_random_weights


def seeded_random_init(self):
    # The model's own random init, then seeded noise on every parameter so every path (norms and scales too)
    # contributes: the same weights on every machine.
    torch.manual_seed(0)
    _random_init(self)
    with torch.no_grad():
        for p in self.model_.parameters():
            p.add_(torch.randn_like(p) * 0.02)


gemma4_model.Gemma4Model._init_random_weights = seeded_random_init

out = sys.argv[1] if len(sys.argv) > 1 else "harness/tests/integration/data/gemma4-tiny-text.pte"
export_gemma4.export_single_pte(
    checkpoint_path=None,
    output_path=out,
    text_quantize="none",
    max_seq_len=800,  # must exceed 770, the exporter's example prefill length (NOTES §11)
    include_audio=False,
    include_vision=False,
    use_custom_sdpa=False,
)
print(out)

# The reference generation, by ExecuTorch's own Python runtime (as run_gemma4.py calls the program for text): the
# seeded prompt etbench uses (ids[i] = splitmix64(0)[i] % vocab, models/manifest-llm.json's rule), one prefill call
# at positions 0..16 with zero inputs_embeds, then greedy decode steps of one token each.
import hashlib
import json

from executorch.runtime import Runtime


def splitmix64(seed, n):
    state, out = seed, []
    for _ in range(n):
        state = (state + 0x9E3779B97F4A7C15) & (2**64 - 1)
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & (2**64 - 1)
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & (2**64 - 1)
        out.append(z ^ (z >> 31))
    return out


PREFILL, DECODE, VOCAB, HIDDEN = 16, 8, 512, 128
method = Runtime.get().load_program(out).load_method("text_decoder")
ids = [v % VOCAB for v in splitmix64(0, PREFILL)]


def step(tokens, start):
    n = len(tokens)
    logits = method.execute(
        [
            torch.tensor([tokens], dtype=torch.long),
            torch.arange(start, start + n, dtype=torch.long),
            torch.zeros(1, n, HIDDEN, dtype=torch.float32),
        ]
    )[0]
    return int(torch.argmax(logits[0, -1]).item())


generated = [step(ids, 0)]
for k in range(DECODE):
    generated.append(step([generated[-1]], PREFILL + k))
sha = hashlib.sha256(open(out, "rb").read()).hexdigest()
reference = {
    "file": out.split("/")[-1],
    "sha256": sha,
    "exporter": "executorch/examples/models/gemma4/export_gemma4.py export_single_pte (text only, no custom SDPA)",
    "runtime": "executorch.runtime (Python)",
    "prompt_seed": 0,
    "prefill": PREFILL,
    "decode": DECODE,
    "prompt_ids": ids,
    "generated": generated,
}
with open(out[: -len(".pte")] + ".json", "w") as f:
    json.dump(reference, f, indent=2)
    f.write("\n")
print(generated)
