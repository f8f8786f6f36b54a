# harness/tests/integration/data/plain-two-input.pte: a user's small decoder step that is NOT an LLM program with a
# cache: forward(ids int64[1, 4], positions int64[4]) -> logits float32[1, 4, 64], no mutable buffers, no metadata
# methods (the shape of optimum-executorch's forward(input_ids, cache_position) without its cache).
# Made with the export venv: .venv-export/bin/python plain-two-input.py (executorch 1.5.1, torch 2.14.0).
import torch
from executorch.exir import to_edge
torch.manual_seed(0)
class Step(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = torch.nn.Embedding(64, 16)
        self.pos = torch.nn.Embedding(64, 16)
        self.head = torch.nn.Linear(16, 64)
    def forward(self, ids, positions):
        return self.head(self.tok(ids) + self.pos(positions).unsqueeze(0))
ep = torch.export.export(Step().eval(), (torch.zeros(1, 4, dtype=torch.long), torch.arange(4)))
prog = to_edge(ep).to_executorch()
open("plain-two-input.pte", "wb").write(prog.buffer)
print(len(prog.buffer))
