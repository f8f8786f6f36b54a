# harness/tests/integration/data/llm-metadata.pte and unplanned-buffer.pte: tiny programs for `inspect`'s LLM reading.
# Made with the export venv: .venv-export/bin/python llm-metadata.py (executorch 1.5.1, torch 2.14.0).
# llm-metadata.pte: forward(tokens int64[1, S<=15], input_pos int64[1]) -> logits [1, 32], a 16-position cache in an
# unnamed mutable buffer written with index_put, and constant methods of every kind the emitter has: a list of two
# ints (two outputs), a one-element list, a float, a string, a bool and a small int64 tensor.
# unplanned-buffer.pte: the same forward with the buffer named and left out of memory planning.
import torch
from executorch.exir import to_edge, ExecutorchBackendConfig
from executorch.exir.passes import MemoryPlanningPass

class Step(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.register_buffer("k_cache", torch.zeros(1, 16, 8))
        self.emb = torch.nn.Embedding(32, 8)
        self.out = torch.nn.Linear(8, 32)
    def forward(self, tokens, input_pos):
        x = self.emb(tokens)
        pos = input_pos + torch.arange(tokens.shape[1])
        self.k_cache.index_put_((torch.zeros_like(pos), pos), x[0])
        return self.out(self.k_cache.sum(1))

@torch.no_grad()
def export(name, config, methods):
    s = torch.export.Dim("s", min=1, max=15)
    ep = torch.export.export(Step().eval(), (torch.zeros(1, 4, dtype=torch.long), torch.zeros(1, dtype=torch.long)), dynamic_shapes=({1: s}, None))
    prog = to_edge(ep, constant_methods=methods).to_executorch(config)
    open(name, "wb").write(prog.buffer)
    print(name, len(prog.buffer))

export("llm-metadata.pte", ExecutorchBackendConfig(), {
    "get_eos_ids": [2, 7],
    "get_stop_ids": [5],
    "get_rope_theta": 0.5,
    "get_name": "tiny",
    "use_kv_cache": True,
    "get_max_context_len": 16,
    "get_vocab_size": 32,
    "get_layer_ids": torch.tensor([3, 4, 5]),
})
export("unplanned-buffer.pte", ExecutorchBackendConfig(emit_mutable_buffer_names=True, memory_planning_pass=MemoryPlanningPass(alloc_mutable_buffers=False)), {})
