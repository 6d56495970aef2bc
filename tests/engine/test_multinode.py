"""The multi-node recipe of docs/distributed.md: `torchrun --nnodes 2 --nproc-per-node 1` twice on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest
import yaml

from astrotrain.runs.checkpoints import load_verified
from tests.conftest import ROOT, cli_env, smoke_args
from tests.engine.test_training import SHORT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_torchrun_nodes_on_localhost_train_one_run(tmp_path, data_cache):
    run_dir, port = tmp_path / "shared-fs" / "run", free_port()
    env = {**cli_env(), "ASTROTRAIN_RUN_DIR": str(run_dir)}  # a path every node sees (a shared filesystem)
    args = smoke_args(tmp_path, data_cache, *SHORT, "--distributed", "--nodes", "2", "--gpus", "1", "trainer.accelerator=cpu")
    nodes = [subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc-per-node", "1",
                               "--node-rank", str(rank), "--master-addr", "127.0.0.1", "--master-port", str(port),
                               str(ROOT / "train.py"), *args],
                              cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for rank in range(2)]
    results = [node.communicate(timeout=600) for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], results[0][1][-3000:] + results[1][1][-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["world_size"] == 2
    # 150 training planets over 2 ranks = 75 each, batch 16 → 4 steps an epoch (the last, partial batch dropped), 3 epochs
    assert metrics["global_step"] == 12 == load_verified(run_dir / "checkpoints" / "last.ckpt")["global_step"]
    assert not (tmp_path / "runs").exists()  # one run directory, the one both nodes were given
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert (config["trainer"]["num_nodes"], config["trainer"]["devices"], config["trainer"]["strategy"]) == (2, 1, "ddp")
