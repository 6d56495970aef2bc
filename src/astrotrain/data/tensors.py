"""In-memory planet tensors and their loaders, shared by the components.

`PlanetTensors` is indexed by a list of planets and returns the whole batch as one gather per
tensor (no per-planet collate). `planet_loader` wraps it in a `StatefulDataLoader` whose
shuffling comes from `EpochShuffleSampler`, so the data position resumes exactly.
"""

from __future__ import annotations

import lightning as L
import torch
from torch.utils.data import Dataset, SequentialSampler
from torchdata.stateful_dataloader import StatefulDataLoader
from torchdata.stateful_dataloader.sampler import BatchSampler

from .sampler import EpochShuffleSampler
from .streaming import ChunkShuffleSampler


class PlanetTensors(Dataset):
    """Row i of each tensor is planet i; `dataset[[i, j, ...]]` is a dict of batch tensors."""

    def __init__(self, **tensors: torch.Tensor):
        self.tensors = tensors
        self.n = len(next(iter(tensors.values())))

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: list[int]) -> dict[str, torch.Tensor]:
        rows = torch.as_tensor(index, dtype=torch.long)
        return {k: v.index_select(0, rows) for k, v in self.tensors.items()}

    def subset(self, index) -> "PlanetTensors":
        rows = torch.as_tensor(index, dtype=torch.long)
        return PlanetTensors(**{k: v.index_select(0, rows) for k, v in self.tensors.items()})


def planet_loader(dataset, batch_size: int, shuffle: bool, seed: int, num_workers: int = 0, order: str = "planets",
                  buffer_chunks: int = 4) -> StatefulDataLoader:
    # shuffling has its own (seed, epoch) stream, and every iterator draws its worker base seed from the
    # loader's own generator: the global RNG (dropout, noise) is never touched by data loading — so a
    # validation pass, or a new epoch's iterator, leaves the training stream where it was (exact resume
    # from a checkpoint taken at an epoch's end depends on it)
    if not shuffle:
        sampler = SequentialSampler(dataset)
    elif order == "chunks":  # a streamed split: storage chunks shuffled, then the planets of a few of them (data/streaming.py)

        sampler = ChunkShuffleSampler(dataset.chunk_ids, seed, buffer_chunks)
    else:
        sampler = EpochShuffleSampler(len(dataset), seed)
    drop_last = shuffle and len(sampler) > batch_size  # this rank's share under DDP
    return StatefulDataLoader(
        dataset,
        batch_size=None,  # the dataset gathers whole batches
        sampler=BatchSampler(sampler, batch_size, drop_last),
        num_workers=num_workers,
        persistent_workers=num_workers > 0,
        generator=torch.Generator().manual_seed(seed),
    )


class SplitDataModule(L.LightningDataModule):
    """A LightningDataModule whose `setup` fills `self.datasets` {train, val, test} with PlanetTensors;
    it supplies the three loaders (train shuffled by (seed, epoch), the others in order)."""

    datasets: dict[str, PlanetTensors]
    batch_size: int
    seed: int
    num_workers: int
    order: str = "planets"  # training order: "planets" or "chunks" (a streamed split, data/streaming.py)
    buffer_chunks: int = 4

    def _loader(self, split: str, shuffle: bool) -> StatefulDataLoader:
        return planet_loader(self.datasets[split], self.batch_size, shuffle, self.seed, self.num_workers, self.order, self.buffer_chunks)

    def train_dataloader(self):
        return self._loader("train", shuffle=True)

    def val_dataloader(self):
        return self._loader("val", shuffle=False)

    def test_dataloader(self):
        return self._loader("test", shuffle=False)
