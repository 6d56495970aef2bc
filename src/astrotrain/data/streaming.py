"""Data larger than memory: batches read lazily from Zarr, chunk-aware shuffling, one-pass statistics.

* **Row sources.** A component's arrays are row sources — rows are planets (or planet × time
  samples): numpy arrays in memory, or Zarr / dask arrays read row by row when a batch asks for them.
* **One transform, both paths.** `LazyPlanets` reads a batch's raw rows from its sources and hands
  them to the component's `transform` (normalisation, stacking: element-wise work), so a batch read from
  Zarr is bit for bit the batch built from the same rows in memory — the in-memory path is the same
  dataset with numpy sources (`data.in_memory`), chosen by size unless the config says which.
* **Chunk-aware shuffling** (`ChunkShuffleSampler`): each epoch the chunks of the split (Zarr's own
  chunks along the planet axis) are permuted, grouped into buffers of `buffer_chunks`, and the rows of
  each buffer permuted — a batch touches at most one buffer of chunks instead of the whole store. The
  order is a pure function of (seed, epoch) and the position is part of the sampler's state, so a
  resumed run continues exactly. Under DDP each rank takes every world-th chunk of the permutation (its
  own shard: no planet is read by two ranks in an epoch), all ranks cut to the same number of rows.
* **One-pass statistics** (`RunningMoments`): sums and sums of squares accumulated chunk by chunk in
  float64 (shifted by the first chunk's mean against cancellation), so normalisation is fitted on the
  training split without holding it.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Callable

import numpy as np
import torch
from torch.utils.data import Dataset

from .sampler import ResumableOrder, distributed_shard


class MemoryRows:
    def __init__(self, array: np.ndarray):
        self.array, self.shape, self.dtype = array, array.shape, array.dtype

    def rows(self, index: np.ndarray) -> np.ndarray:
        return self.array[index]

    @property
    def nbytes(self) -> int:
        return int(self.array.nbytes)


class LazyRows:
    """Rows of a Zarr array (`zarr.Array`, opened in the process that reads: workers reopen it) or a dask array.

    With `cache_chunks` > 0 a request is served from whole storage chunks, the last `cache_chunks`
    of them kept decoded: under chunk-aware shuffling each chunk of a buffer is then decoded once
    per epoch however its rows are spread over the buffer's batches."""

    def __init__(self, open_array: Callable, shape: tuple, dtype, chunk_rows: int, offset: int = 0):
        self.open_array, self.shape, self.dtype, self.chunk_rows, self.offset = open_array, tuple(shape), np.dtype(dtype), int(chunk_rows), offset
        self.cache_chunks = 0
        self._array, self._cache = None, OrderedDict()

    def __getstate__(self):  # a worker process opens its own handle and keeps its own cache
        return {**self.__dict__, "_array": None, "_cache": OrderedDict()}

    def _read(self, rows) -> np.ndarray:
        if self._array is None:
            self._array = self.open_array()
        if isinstance(rows, slice):
            values = self._array[rows]
        elif hasattr(self._array, "get_orthogonal_selection"):
            values = self._array.get_orthogonal_selection((rows,))
        else:  # dask
            values = self._array[rows]
        return np.asarray(values.compute() if hasattr(values, "compute") else values)

    def _chunk(self, c: int) -> np.ndarray:
        if c in self._cache:
            self._cache.move_to_end(c)
            return self._cache[c]
        block = self._read(slice(c * self.chunk_rows, (c + 1) * self.chunk_rows))
        self._cache[c] = block
        while len(self._cache) > self.cache_chunks:
            self._cache.popitem(last=False)
        return block

    def rows(self, index: np.ndarray) -> np.ndarray:
        stored = np.asarray(index, dtype=np.int64) + self.offset
        if self.cache_chunks:
            chunk_of = stored // self.chunk_rows
            out = np.empty((len(stored), *self.shape[1:]), self.dtype)
            for c in np.unique(chunk_of):
                mine = chunk_of == c
                out[mine] = self._chunk(int(c))[stored[mine] - c * self.chunk_rows]
            return out
        order = np.argsort(stored, kind="stable")
        values = self._read(stored[order])
        out = np.empty_like(values)
        out[order] = values
        return out

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape) * self.dtype.itemsize)


def cache_chunks(sources: dict, n: int) -> None:
    """Keep the last `n` decoded chunks of every lazy source (a chunk-aware shuffling buffer, plus one)."""
    for source in sources.values():
        if isinstance(source, LazyRows):
            source.cache_chunks = n


def zarr_rows(path, name: str, n_rows: int | None = None) -> LazyRows:
    """The Zarr array `name` of the group at `path` as a row source (its first `n_rows` rows)."""
    import zarr

    array = zarr.open_group(path, mode="r")[name]
    shape = (n_rows if n_rows is not None else array.shape[0], *array.shape[1:])
    return LazyRows(lambda: zarr.open_group(path, mode="r")[name], shape, array.dtype, array.chunks[0])


def dask_rows(array) -> LazyRows:
    chunk = array.chunks[0][0] if array.chunks[0] else 1
    return LazyRows(lambda: array, array.shape, array.dtype, chunk)


class LazyPlanets(Dataset):
    """`dataset[[i, j, …]]`: the batch `transform({name: rows})` of the split's rows i, j, … (module docstring)."""

    def __init__(self, sources: dict, rows: np.ndarray, transform: Callable[[dict], dict], chunk_rows: int = 1):
        self.sources, self.rows, self.transform = sources, np.asarray(rows, dtype=np.int64), transform
        self.n, self.chunk_rows = len(self.rows), max(1, int(chunk_rows))
        self._materialised = None

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index) -> dict[str, torch.Tensor]:
        rows = self.rows[np.asarray(index, dtype=np.int64)]
        return self.transform({name: source.rows(rows) for name, source in self.sources.items()})

    @property
    def chunk_ids(self) -> np.ndarray:
        """The storage chunk of each row of the split (what the chunk-aware sampler groups by)."""
        return self.rows // self.chunk_rows

    @property
    def tensors(self) -> dict[str, torch.Tensor]:
        """Every row of the split as one batch (for reports on held-out splits; read once)."""
        if self._materialised is None:
            self._materialised = self[list(range(self.n))]
        return self._materialised


class ChunkShuffleSampler(ResumableOrder):
    """Rows of a split in chunk-aware shuffled order (module docstring); resumable like `EpochShuffleSampler`."""

    def __init__(self, chunk_ids: np.ndarray, seed: int, buffer_chunks: int = 4, rank: int | None = None, world: int | None = None):
        super().__init__()
        chunk_ids = np.asarray(chunk_ids)
        self.seed, self.buffer_chunks = seed, max(1, buffer_chunks)
        self._rank, self._world = rank, world
        by_chunk = np.argsort(chunk_ids, kind="stable")
        _, starts, counts = np.unique(chunk_ids[by_chunk], return_index=True, return_counts=True)
        self.members = [by_chunk[a:a + c] for a, c in zip(starts, counts)]  # the split's rows of each chunk
        self.smallest_first = np.sort(counts)

    def _shard(self) -> tuple[int, int]:
        return (self._rank, self._world) if self._rank is not None else distributed_shard()

    def order(self, epoch: int) -> list[int]:
        rank, world = self._shard()
        rng = np.random.default_rng([self.seed, 0xC4A, epoch])
        mine = rng.permutation(len(self.members))[rank::world]
        out = []
        for start in range(0, len(mine), self.buffer_chunks):
            buffer = np.concatenate([self.members[c] for c in mine[start:start + self.buffer_chunks]])
            out.extend(buffer[rng.permutation(len(buffer))].tolist())
        return out[:len(self)]

    def __len__(self) -> int:
        """Rows per rank and epoch, the same every epoch: a rank holds at least ⌊chunks / world⌋ chunks, so
        at least the rows of that many of the smallest."""
        return int(self.smallest_first[:len(self.members) // self._shard()[1]].sum())


class RunningMoments:
    """Sums for means and variances over a chosen set of axes, fed chunk by chunk (float64, shifted)."""

    def __init__(self, axes: tuple[int, ...]):
        self.axes, self.n, self.shift, self.sum, self.sum_sq = axes, 0, None, None, None

    def add(self, x: np.ndarray) -> None:
        x = np.asarray(x, dtype=np.float64)
        if self.shift is None:
            self.shift = x.mean(axis=self.axes, keepdims=True)
            self.sum = np.zeros(np.squeeze(self.shift, axis=self.axes).shape) if self.axes else np.zeros(x.shape[1:])
            self.sum_sq = np.zeros_like(self.sum)
        d = x - self.shift
        self.sum += d.sum(axis=self.axes)
        self.sum_sq += (d * d).sum(axis=self.axes)
        self.n += int(np.prod([x.shape[a] for a in self.axes]))

    def mean(self) -> np.ndarray:
        return np.squeeze(self.shift, axis=self.axes) + self.sum / self.n

    def std(self) -> np.ndarray:
        m = self.sum / self.n
        return np.sqrt(np.maximum(self.sum_sq / self.n - m * m, 0.0))


def chunks_of(rows: np.ndarray, size: int):
    """`rows` (sorted) in consecutive pieces of at most `size` (a one-pass read of a split)."""
    for start in range(0, len(rows), size):
        yield rows[start:start + size]


def how_read(in_memory: bool, order: str) -> str:
    """The treatment record's line on how a split was read."""
    return "in memory" if in_memory else f"streamed from storage, {order} order"


def fits_in_memory(sources: dict, budget_gb: float) -> bool:
    return sum(s.nbytes for s in sources.values()) <= budget_gb * 1e9
