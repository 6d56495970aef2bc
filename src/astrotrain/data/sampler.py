"""A shuffling sampler whose order is a pure function of (seed, epoch), with a resumable position.

Why not `shuffle=True` with a generator: the order then depends on how often the generator
was advanced, and Lightning and `StatefulDataLoader` create (and discard) iterators at
moments that differ between an uninterrupted and a resumed run, each drawing a fresh
permutation. Here the permutation of epoch `e` is `randperm(n)` under a generator seeded
with (seed, e); an iterator has no side effect until it is consumed (a Python generator), and
the state is just (epoch, position). Under DDP each rank takes every world-th index of the
same permutation (trailing indices dropped so all ranks see equally many).
"""

from __future__ import annotations

import torch
from torch.utils.data import Sampler


class ResumableOrder(Sampler[int]):
    """A sampler whose epoch order is `order(epoch)`, a pure function of its seed and the epoch; the state is
    (epoch, position), so a resumed iterator continues where the checkpointed one stopped."""

    def __init__(self):
        self.epoch = 0
        self.position = 0  # indices of this epoch already handed out
        self._resume_at = 0

    def order(self, epoch: int) -> list[int]:
        raise NotImplementedError

    def __iter__(self):
        order = self.order(self.epoch)
        start, self._resume_at = self._resume_at, 0
        for i in range(start, len(order)):
            self.position = i + 1
            yield order[i]
        self.epoch += 1
        self.position = 0

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict) -> None:
        self.epoch = int(state["epoch"])
        self.position = self._resume_at = int(state["position"])


def distributed_shard() -> tuple[int, int]:
    """(rank, world size) of this process: (0, 1) outside torch.distributed."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


class EpochShuffleSampler(ResumableOrder):
    def __init__(self, n: int, seed: int):
        super().__init__()
        self.n = n
        self.seed = seed

    def order(self, epoch: int) -> list[int]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        rank, world = distributed_shard()
        perm = torch.randperm(self.n, generator=generator)
        usable = (self.n // world) * world
        return perm[:usable][rank::world].tolist()

    def __len__(self) -> int:
        return self.n // distributed_shard()[1]
