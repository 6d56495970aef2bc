"""Phase 4: federated training of fusion across observatories with Flower (issue #9)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from astrotrain.components.galactic.config import GalacticConfig, ObservatoryConfig
from astrotrain.components.galactic.observatories import UNOBSERVED_SIGMA, assign_planets, observe
from astrotrain.components.spectral.instrument import Instrument
from tests.conftest import run_cli, smoke_args

PHASE = Path("phases") / "4-galactic"


# ---- who observes what ---------------------------------------------------------------------------
def test_planets_go_to_one_observatory_each_inside_its_host_star_range_specialists_first():
    rng = np.random.default_rng(0)
    t_star = rng.uniform(2500, 6500, 4000)
    planets = np.arange(0, 4000, 2)  # a split: every other planet
    sites = [ObservatoryConfig(name="m", host_star_teff_k=(2300, 3900), instrument="ariel", share=1.0),
             ObservatoryConfig(name="all", host_star_teff_k=(2300, 7000), instrument="ariel", share=0.5),
             ObservatoryConfig(name="g", host_star_teff_k=(5300, 7000), instrument="ariel", share=0.4)]
    shards = assign_planets(t_star, planets, sites, seed=3)
    held = np.concatenate(shards)
    assert len(held) == len(np.unique(held)) and np.isin(held, planets).all()  # no planet twice, only the split's
    for site, shard in zip(sites, shards):
        assert ((t_star[shard] >= site.host_star_teff_k[0]) & (t_star[shard] < site.host_star_teff_k[1])).all()
    m_dwarfs = planets[t_star[planets] < 3900]
    assert np.array_equal(shards[0], m_dwarfs)  # share 1: the specialist keeps every planet of its range
    g_stars = planets[t_star[planets] >= 5300]
    assert len(shards[2]) / len(g_stars) == pytest.approx(0.4, abs=0.06)
    rest = planets[(t_star[planets] >= 3900)]
    assert len(shards[1]) / (len(rest) - len(shards[2])) == pytest.approx(0.5, abs=0.06)  # the broad survey: half of what is left
    assert all(np.array_equal(a, b) for a, b in zip(shards, assign_planets(t_star, planets, sites, seed=3)))


def test_an_instrument_averages_within_its_pixels_adds_its_noise_and_marks_what_it_does_not_cover():
    wavelength = np.exp(np.linspace(np.log(0.5), np.log(20.0), 369))  # an R ≈ 100 grid
    depth = 1e-4 * (1 + 0.1 * np.sin(np.arange(369) / 3.0))[None].repeat(400, axis=0)
    perfect = Instrument("perfect", 0.5, 20.0, 100.0, 0.0)
    same, sigma = observe(depth, wavelength, 100.0, perfect, np.random.default_rng(0))
    np.testing.assert_allclose(same, depth)  # same resolution, no noise, full range: what it is given
    coarse = Instrument("coarse", 0.6, 5.3, 50.0, 0.0)
    seen, sigma = observe(depth, wavelength, 100.0, coarse, np.random.default_rng(0))
    inside = (wavelength >= 0.6) & (wavelength <= 5.3)
    index = np.flatnonzero(inside)
    pixel = (index - index[0]) // 2  # R 50 on an R 100 grid: pixels of two bins, one value each
    together = pixel[1:] == pixel[:-1]
    assert together.sum() >= len(index) // 2 - 1 and (seen[:, index[1:]][:, together] == seen[:, index[:-1]][:, together]).all()
    assert seen[0, index].mean() == pytest.approx(depth[0, index].mean(), rel=1e-3)  # averaging conserves the mean
    assert (sigma[:, ~inside] == UNOBSERVED_SIGMA).all() and np.allclose(sigma[:, inside], 1e-9)
    assert np.allclose(seen[:, ~inside], seen[:, index].mean(axis=1, keepdims=True))  # no information outside
    noisy, _ = observe(depth, wavelength, 100.0, Instrument("noisy", 0.5, 20.0, 100.0, 30.0), np.random.default_rng(1))
    assert (noisy - depth).std() == pytest.approx(30e-6, rel=0.02)  # its white noise per bin, in ppm
    with pytest.raises(ValueError, match="covers none"):
        observe(depth, wavelength, 100.0, Instrument("far", 25.0, 30.0, 50.0, 1.0), np.random.default_rng(0))


@pytest.mark.parametrize(("override", "message"), [
    ({"strategy": "krum", "krum_malicious": 2}, "krum with krum_malicious=2 needs at least 7 observatories"),
    ({"min_train_nodes": 9}, "min_train_nodes=9 exceeds the 5 observatories"),
    ({"failing_observatory": 5}, "failing_observatory=5 but there are 5 observatories"),
    ({"client_cpus": 4, "simulation_cpus": 2}, "client_cpus=4.0 exceeds simulation_cpus=2: no observatory could start"),
    ({"client_gpus": 0.25}, "client_gpus=0.25 exceeds simulation_gpus=0: no observatory could start"),
])
def test_inconsistent_federation_settings_are_config_errors(override, message):
    with pytest.raises(ValueError, match=message):
        GalacticConfig(**override)


# ---- the federation of the smoke pipeline ----------------------------------------------------------
def federation(run: Path) -> tuple[dict, dict]:
    folder = run / PHASE if (run / PHASE).is_dir() else run
    return json.loads((folder / "metrics.json").read_text()), json.loads((folder / "federation_result.json").read_text())


def test_the_federation_improves_the_model_and_keeps_every_observatory_s_planets_to_itself(smoke_pipeline):
    from safetensors.torch import load_file

    metrics, result = federation(smoke_pipeline)
    held = {int(r): m["score"] for r, m in metrics["held_out_per_round"].items()}
    assert sorted(held) == [0, 1, 2, 3] and held[3] > held[0] + 0.2  # round 0: the initial weights
    assert metrics["test"]["score"] == held[3] and metrics["baselines"]["failed_train_replies"] == 0
    assert {r: len(m) for r, m in result["observatory_train"].items()} == {"1": 3, "2": 3, "3": 3}  # every observatory replied every round
    shards = [load_file(str(smoke_pipeline / PHASE / "observatories" / f"{k}.safetensors")) for k in range(3)]
    train = [s["train:planet"].numpy() for s in shards]
    everything = np.concatenate(train + [s["val:planet"].numpy() for s in shards])
    assert len(everything) == len(np.unique(everything))  # no planet is held twice
    test = load_file(str(smoke_pipeline / PHASE / "held_out.safetensors"))["test:planet"].numpy()
    assert not np.isin(test, everything).any()
    # fusion's held-out planets: the federated and the central model are scored on the same set
    fusion_split = json.loads((smoke_pipeline / "phases" / "2-integrate" / "provenance.json").read_text())["data"]["splits"]["test"]
    assert len(test) == fusion_split["planets"]
    # communication: the weights go to every observatory for training and for evaluation, and come back from each
    assert metrics["communication_mb_per_round"] == pytest.approx([metrics["baselines"]["model_mb"] * 9] * 3)
    rounds = json.loads((smoke_pipeline / PHASE / "rounds.json").read_text())
    assert set(rounds[0]["observatories"]) == {"m-dwarfs", "k-dwarfs", "sun-like"}


def galactic(tmp_path: Path, data_cache: Path, fusion_run: Path, *overrides: str) -> dict:
    tmp_path.mkdir(parents=True, exist_ok=True)
    res = run_cli(smoke_args(tmp_path, data_cache, "--component", "galactic", f"components.galactic.fusion={fusion_run}", *overrides), cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    run = next((tmp_path / "runs").iterdir())
    metrics, result = federation(run)
    return {"metrics": metrics, "result": result, "stderr": res.stderr}


def test_an_observatory_that_raises_is_left_out_and_the_rounds_complete(tmp_path, data_cache, smoke_pipeline):
    out = galactic(tmp_path, data_cache, smoke_pipeline, "components.galactic.failing_observatory=0")
    assert {r: sorted(int(m["observatory"]) for m in ms) for r, ms in out["result"]["observatory_train"].items()} == {"1": [1, 2], "2": [1, 2], "3": [1, 2]}
    assert out["metrics"]["baselines"]["failed_train_replies"] == 3
    assert "failed (components.galactic.failing_observatory=0)" in out["stderr"]  # the failure is logged
    held = out["metrics"]["held_out_per_round"]
    assert held["3"]["score"] > held["0"]["score"] + 0.2


def test_a_robust_strategy_bounds_what_a_poisoned_observatory_does_where_fedavg_does_not(tmp_path, data_cache, smoke_pipeline):
    honest = federation(smoke_pipeline)[0]["test"]["score"]
    poison = ("components.galactic.poisoned_observatory=1", "components.galactic.poison_scale=-10")
    fedavg = galactic(tmp_path / "fedavg", data_cache, smoke_pipeline, *poison)["metrics"]
    median = galactic(tmp_path / "median", data_cache, smoke_pipeline, *poison, "components.galactic.strategy=fedmedian")["metrics"]
    bound = 0.2  # the stated bound: within 0.2 of the honest federation's held-out score
    assert fedavg["test"]["score"] < honest - bound and fedavg["test"]["score"] < fedavg["held_out_per_round"]["0"]["score"]
    assert median["test"]["score"] > honest - bound


def test_fedprox_and_client_side_differential_privacy_run_through_flower(tmp_path, data_cache, smoke_pipeline):
    prox = galactic(tmp_path / "prox", data_cache, smoke_pipeline, "components.galactic.strategy=fedprox", "components.galactic.proximal_mu=1.0")["metrics"]
    fedavg = federation(smoke_pipeline)[0]
    assert prox["test"]["score"] != fedavg["test"]["score"]  # the proximal term reached the observatories
    dp = galactic(tmp_path / "dp", data_cache, smoke_pipeline, "components.galactic.dp_noise_multiplier=0.1", "components.galactic.dp_clipping_norm=0.5")
    assert "clipping" in dp["stderr"].lower()
    assert dp["metrics"]["held_out_per_round"]["3"]["score"] > dp["metrics"]["held_out_per_round"]["0"]["score"]
    # Flower's DP wrapper skips a round's aggregation when any reply is an error: the model stands still, the run goes on
    stalled = galactic(tmp_path / "dp-fail", data_cache, smoke_pipeline, "components.galactic.dp_noise_multiplier=0.1",
                       "components.galactic.failing_observatory=0")["metrics"]
    assert stalled["baselines"]["rounds_without_aggregation"] == 3
    assert len({m["score"] for m in stalled["held_out_per_round"].values()}) == 1


def test_the_galactic_phase_needs_a_fusion_run(tmp_path, data_cache):
    res = run_cli(smoke_args(tmp_path, data_cache, "--component", "galactic"), cwd=tmp_path)
    assert res.returncode == 2 and "components.galactic.fusion" in res.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


@pytest.mark.slow
def test_flower_s_ray_simulation_engine_gives_the_in_process_result(tmp_path, data_cache, smoke_pipeline):
    pytest.importorskip("ray", reason="Flower's simulation engine needs the federated extra (ray)")
    ray_run = galactic(tmp_path, data_cache, smoke_pipeline, "components.galactic.backend=ray")["metrics"]
    local = federation(smoke_pipeline)[0]
    for r, metrics in local["held_out_per_round"].items():
        for key, value in metrics.items():
            assert ray_run["held_out_per_round"][r][key] == pytest.approx(value, abs=1e-5), (r, key)


# ---- deployment: a SuperLink and one SuperNode per observatory on 127.0.0.1 --------------------------
def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepared_federation(smoke_pipeline: Path, folder: Path, **changes) -> Path:
    """The smoke pipeline's phase-4 folder (shards, held-out set, settings) copied, with changed settings."""
    import shutil

    from astrotrain.components.galactic.apps import RESULT_FILE, Settings

    shutil.copytree(smoke_pipeline / PHASE, folder)
    (folder / RESULT_FILE).unlink()
    settings = Settings.load(folder / "federation.json")
    settings.folder = str(folder)
    settings.galactic.update(changes)
    return settings.save()


@pytest.mark.slow
def test_a_deployed_federation_survives_a_supernode_killed_mid_run(tmp_path, smoke_pipeline):
    import os
    import signal
    import subprocess
    import sys
    import time
    import urllib.request

    from tests.conftest import ROOT, cli_env

    settings = prepared_federation(smoke_pipeline, tmp_path / "phase", rounds=2, min_train_nodes=2, round_timeout_s=45.0)
    home, port = tmp_path / "flwr_home", free_port()
    home.mkdir()
    (home / "config.toml").write_text(f'[superlink]\ndefault = "astrotrain-test"\n\n[superlink.astrotrain-test]\naddress = "127.0.0.1:{port}"\ninsecure = true\n')
    env = {**cli_env(), "FLWR_HOME": str(home), "FLWR_DISABLE_UPDATE_CHECK": "1", "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    logs = tmp_path / "logs"
    logs.mkdir()
    processes: list[subprocess.Popen] = []

    def start(name: str, *args: str) -> subprocess.Popen:
        with open(logs / f"{name}.log", "w") as out:
            processes.append(subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True))
        return processes[-1]

    def flwr(*args: str) -> dict:
        res = subprocess.run(["flwr", *args, "--format", "json"], env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert res.returncode == 0, res.stdout + res.stderr
        return json.loads(res.stdout)

    try:
        start("superlink", "flower-superlink", "--insecure", "--disable-runtime-dependency-installation", "--host", "127.0.0.1", "--port", str(port))
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except OSError:
                assert time.monotonic() < deadline, (logs / "superlink.log").read_text()
                time.sleep(0.5)
        nodes = [start(f"supernode{i}", "flower-supernode", "--insecure", "--superlink", f"127.0.0.1:{port}", "--port", str(free_port()),
                       "--node-config", f"partition-id={i} num-partitions=3") for i in range(3)]
        while len(flwr("supernode", "ls", "astrotrain-test").get("nodes", [])) < 3:
            assert time.monotonic() < deadline, "the SuperNodes did not register"
            time.sleep(1)
        run_id = flwr("run", str(ROOT / "federation"), "astrotrain-test", "--run-config", f"federation='{settings}'")["run-id"]
        while "Receiving: train message" not in (logs / "supernode2.log").read_text():  # observatory 2 is training round 1
            assert time.monotonic() < deadline + 120, (logs / "supernode2.log").read_text()
            time.sleep(0.5)
        os.killpg(nodes[2].pid, signal.SIGKILL)  # observatory 2 disappears mid-round
        deadline = time.monotonic() + 420
        while not (status := flwr("ls", "astrotrain-test", "--run-id", str(run_id))["runs"][0]["status"]).startswith("finished"):
            assert time.monotonic() < deadline, status
            time.sleep(3)
        assert status == "finished:completed", (logs / "superlink.log").read_text()[-3000:]
    finally:
        stubborn = []
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                stubborn.append(process.args[0])
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    assert not stubborn  # SuperLink and SuperNodes stop cleanly on SIGTERM (nothing needed SIGKILL)
    result = json.loads((tmp_path / "phase" / "federation_result.json").read_text())
    held = {int(r): m["score"] for r, m in result["held_out"].items()}
    assert held[2] > held[0] + 0.1  # the model improved over the 2 rounds
    replies = {r: len(m) for r, m in result["observatory_train"].items()}
    assert set(replies) == {"1", "2"} and replies["2"] == 2  # both rounds aggregated; the last with the two observatories left


def test_started_from_phase_2_the_federation_scores_phase_2_s_model_exactly_before_round_1(tmp_path, data_cache, smoke_pipeline):
    out = galactic(tmp_path, data_cache, smoke_pipeline, "components.galactic.init=fusion", "components.galactic.rounds=1")
    before = out["metrics"]["held_out_per_round"]["0"]
    phase_2 = json.loads((smoke_pipeline / "phases" / "2-integrate" / "metrics.json").read_text())["test"]
    for key, value in phase_2.items():  # same planets, same encoders' features, same weights: the cache is faithful
        assert before[key] == pytest.approx(value, abs=1e-6), key
