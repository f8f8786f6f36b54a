# harness/tests/integration/data/mutable-buffer.pte: a tiny program with a named mutable buffer (for `inspect`).
# Made with the export venv: .venv-export/bin/python mutable-buffer.py (executorch 1.5.1, torch 2.14.0).
import torch
from executorch.exir import to_edge, ExecutorchBackendConfig
class M(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("cache", torch.zeros(4, 8))
        self.proj = torch.nn.Linear(8, 8)
    def forward(self, x):
        self.cache.add_(x)
        return self.proj(self.cache)
m = M().eval()
ep = torch.export.export(m, (torch.ones(4, 8),))
prog = to_edge(ep).to_executorch(ExecutorchBackendConfig(emit_mutable_buffer_names=True))
open("mutable-buffer.pte", "wb").write(prog.buffer)
print(len(prog.buffer))
