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


class EpochShuffleSampler(Sampler[int]):
    def __init__(self, n: int, seed: int):
        self.n = n
        self.seed = seed
        self.epoch = 0
        self.position = 0  # indices of this epoch already handed out
        self._resume_at = 0

    @staticmethod
    def _shard() -> tuple[int, int]:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            return torch.distributed.get_rank(), torch.distributed.get_world_size()
        return 0, 1

    def permutation(self, epoch: int) -> list[int]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        rank, world = self._shard()
        perm = torch.randperm(self.n, generator=generator)
        usable = (self.n // world) * world
        return perm[:usable][rank::world].tolist()

    def __iter__(self):
        order = self.permutation(self.epoch)
        start, self._resume_at = self._resume_at, 0
        for i in range(start, len(order)):
            self.position = i + 1
            yield order[i]
        self.epoch += 1
        self.position = 0

    def __len__(self) -> int:
        return self.n // self._shard()[1]

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict) -> None:
        self.epoch = int(state["epoch"])
        self.position = self._resume_at = int(state["position"])
