"""A training process's place among the data-parallel processes of one epoch, and the sums over them
(:mod:`.distributed` starts the processes)."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class World:
    """This process's place among the training processes."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    def share(self, n: int, per_process: int) -> slice:
        """This process's part of a global batch of ``n`` samples (``per_process`` each)."""
        start = min(n, self.rank * per_process)
        return slice(start, min(n, start + per_process))

    def reduce_gradients(self, net: torch.nn.Module, weight: float) -> None:
        """Σ over processes of ``weight x`` each gradient, written back into every process's grads
        (in place, so they keep their memory format: channels-last on CUDA)."""
        params = [p for p in net.parameters() if p.requires_grad]
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch.cat([g.reshape(-1) for g in grads])
        flat.mul_(weight)
        torch.distributed.all_reduce(flat)
        offset = 0
        for p, g in zip(params, grads):
            n = g.numel()
            g.copy_(flat[offset : offset + n].view(g.shape))
            p.grad = g
            offset += n

    def reduce_values(self, values: torch.Tensor, weight: float) -> torch.Tensor:
        out = values * weight
        torch.distributed.all_reduce(out)
        return out
