"""Data larger than memory: one-pass statistics, chunk-aware shuffling, streamed batches == in-memory batches."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from astrotrain.components.surrogate.data import PCAAccumulator, fit_pca
from astrotrain.config.loader import load_config
from astrotrain.data.streaming import ChunkShuffleSampler, RunningMoments, chunks_of
from astrotrain.runs.checkpoints import load_verified
from tests.conftest import SMOKE, run_cli, smoke_args
from tests.engine.test_training import SHORT, assert_same_tree, step_losses, the_run


def test_running_moments_match_numpy_on_offset_data_fed_in_chunks():
    rng = np.random.default_rng(0)
    x = 1e6 + rng.normal(0.0, 1e-2, size=(103, 3, 5)).astype(np.float32)  # a large offset: naive Σx² cancels
    moments = RunningMoments(axes=(0,))
    for rows in chunks_of(np.arange(len(x)), 17):
        moments.add(x[rows])
    reference = x.astype(np.float64)
    np.testing.assert_allclose(moments.mean(), reference.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(moments.std(), reference.std(axis=0), rtol=1e-6)
    everything = RunningMoments(axes=(0, 1, 2))
    for rows in chunks_of(np.arange(len(x)), 40):
        everything.add(x[rows])
    np.testing.assert_allclose(everything.std(), reference.std(), rtol=1e-6)


def test_pca_fed_in_chunks_is_the_pca_of_the_whole():
    rng = np.random.default_rng(1)
    latent = rng.normal(size=(300, 3)) * np.array([5.0, 2.0, 0.5])
    maps = 250.0 + latent @ rng.normal(size=(3, 40)) + rng.normal(0, 0.01, size=(300, 40))
    pca = PCAAccumulator()
    for rows in chunks_of(np.arange(300), 64):
        pca.add(maps[rows])
    mean, comps, scale = pca.result(3)
    whole_mean, whole_comps, whole_scale = fit_pca(maps[:64], 3)  # a different sample: the check below must fail on it
    assert not np.allclose(whole_mean, mean, atol=1e-3)
    np.testing.assert_allclose(mean, maps.mean(axis=0), rtol=1e-12)
    _, _, vt = np.linalg.svd(maps - maps.mean(axis=0), full_matrices=False)
    np.testing.assert_allclose(np.abs(comps @ vt[:3].T), np.eye(3), atol=1e-8)  # the same subspace, component by component
    np.testing.assert_allclose(scale, np.sqrt(((maps - maps.mean(axis=0)) ** 2).sum(axis=1).mean()), rtol=1e-9)
    assert np.all(comps[np.arange(3), np.abs(comps).argmax(axis=1)] > 0)  # the sign convention


def sampler_split(seed: int = 0) -> np.ndarray:
    """The chunk of each row of a random 60 % split of 400 planets stored 16 per chunk (uneven chunks)."""
    rows = np.sort(np.random.default_rng(seed).choice(400, 240, replace=False))
    return rows // 16


def test_chunk_shuffle_reads_a_few_chunks_at_a_time_and_is_a_function_of_seed_and_epoch():
    chunk_ids = sampler_split()
    sampler = ChunkShuffleSampler(chunk_ids, seed=3, buffer_chunks=2)
    first, second = list(sampler), list(sampler)
    assert sorted(first) == list(range(len(chunk_ids)))  # every row once
    assert first != second and ChunkShuffleSampler(chunk_ids, seed=3, buffer_chunks=2).order(1) == second
    largest_two = np.sort(np.bincount(chunk_ids))[-2:].sum()
    positions = {}
    for i, row in enumerate(first):
        positions.setdefault(chunk_ids[row], []).append(i)
    # a chunk's rows are all read within one buffer of two chunks, never scattered over the epoch
    assert max(p[-1] - p[0] for p in positions.values()) < largest_two
    assert ChunkShuffleSampler(chunk_ids, seed=4, buffer_chunks=2).order(0) != first


def test_chunk_shuffle_shards_are_disjoint_equal_and_the_same_length_every_epoch():
    chunk_ids = sampler_split(1)
    for epoch in range(3):
        shards = [ChunkShuffleSampler(chunk_ids, seed=0, rank=r, world=2).order(epoch) for r in range(2)]
        assert len(shards[0]) == len(shards[1]) == len(ChunkShuffleSampler(chunk_ids, seed=0, rank=0, world=2))
        assert not set(shards[0]) & set(shards[1])  # no planet on two ranks in an epoch
        assert {chunk_ids[i] for i in shards[0]}.isdisjoint({chunk_ids[i] for i in shards[1]})  # nor a chunk
        assert len(shards[0]) + len(shards[1]) >= 0.8 * len(chunk_ids)


def test_chunk_shuffle_resumes_mid_epoch_exactly():
    chunk_ids = sampler_split(2)
    uninterrupted = ChunkShuffleSampler(chunk_ids, seed=5)
    reference = list(uninterrupted) + list(uninterrupted)
    interrupted = ChunkShuffleSampler(chunk_ids, seed=5)
    it = iter(interrupted)
    seen = [next(it) for _ in range(101)]
    resumed = ChunkShuffleSampler(chunk_ids, seed=5)
    resumed.load_state_dict(interrupted.state_dict())
    assert seen + list(resumed) + list(resumed) == reference


def datamodule(component: str, data_cache, *overrides: str):
    from astrotrain.config.registry import get_component
    from astrotrain.universe.generate import ensure_universe

    cfg, _ = load_config(SMOKE, [f"data.universe.cache_dir={data_cache}", *overrides])
    dm = get_component(component).resolve("datamodule")(cfg, ensure_universe(cfg.data.universe, progress=False))
    dm.setup("fit")
    return dm


def all_batches(dm) -> list[dict]:
    return [batch for loader in (dm.train_dataloader(), dm.train_dataloader(), dm.test_dataloader()) for batch in loader]


@pytest.mark.parametrize("component", ["datacube", "surrogate"])
def test_streamed_batches_are_bitwise_the_in_memory_batches(data_cache, component):
    streamed = datamodule(component, data_cache, "data.in_memory=false", "data.shuffle=chunks", "data.num_workers=2")  # prefetched by workers
    in_memory = datamodule(component, data_cache, "data.in_memory=true", "data.shuffle=chunks")
    assert not streamed.in_memory and in_memory.in_memory
    assert type(streamed.datasets["train"].sources[next(iter(streamed.datasets["train"].sources))]).__name__ == "LazyRows"
    fitted = streamed.stats if component == "datacube" else streamed.basis
    reference = in_memory.stats if component == "datacube" else in_memory.basis
    for key, value in reference.items():
        np.testing.assert_array_equal(np.asarray(fitted[key]), np.asarray(value), err_msg=key)
    a, b = all_batches(streamed), all_batches(in_memory)
    assert len(a) == len(b) > 2
    for x, y in zip(a, b):
        assert x.keys() == y.keys()
        for key in x:
            assert torch.equal(x[key], y[key]), key
    planet_order = datamodule(component, data_cache, "data.in_memory=false", "data.shuffle=planets")
    first = next(iter(planet_order.train_dataloader()))
    assert not torch.equal(first["features" if component == "surrogate" else "params"], a[0]["features" if component == "surrogate" else "params"])


@pytest.mark.slow
def test_streamed_training_resumes_mid_epoch_bitwise(tmp_path, data_cache):
    streamed = ["data.in_memory=false", "data.shuffle=chunks", "data.shuffle_buffer_chunks=2"]
    full = run_cli(smoke_args(tmp_path / "full", data_cache, *SHORT, *streamed), cwd=tmp_path)
    assert full.returncode == 0, full.stderr
    stopped = run_cli(smoke_args(tmp_path / "split", data_cache, *SHORT, *streamed, "trainer.stop_after_steps=13"), cwd=tmp_path)
    assert stopped.returncode == 0, stopped.stderr
    run = the_run(tmp_path / "split" / "runs")
    resumed = run_cli(["--resume", str(run), "trainer.stop_after_steps=null"], cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    a = load_verified(the_run(tmp_path / "full" / "runs") / "checkpoints" / "last.ckpt")
    b = load_verified(run / "checkpoints" / "last.ckpt")
    assert a["global_step"] == b["global_step"] == 27
    assert_same_tree(a["state_dict"], b["state_dict"], "state_dict")
    assert step_losses(the_run(tmp_path / "full" / "runs")) == step_losses(run)
    assert json.loads((run / "normalisation.json").read_text())["read"] == "streamed from storage, chunks order"
