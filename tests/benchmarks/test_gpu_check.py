"""`python -m benchmarks.gpu_check`: the smoke mode runs every code path on CPU and writes each table with the
figures of the computation it names; without a CUDA device (and without `--device cpu`) it writes nothing
and exits 2. No timing is asserted: the check is a measurement, not a test."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from tests.conftest import ROOT, cli_env

TITLES = ("## 1. Matmul peak", "## 2. Training steps: throughput, MFU, memory", "## 3. Engine vs plain loop on one device",
          "## 4. LLM: LoRA and QLoRA steps", "## 5. ONNX Runtime for `predict`")


def run_check(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    env = cli_env()
    env["PYTHONPATH"] = f"{ROOT}:{env['PYTHONPATH']}"
    env["OMP_NUM_THREADS"] = "1"  # light on a shared machine; the figures asserted below do not depend on it
    return subprocess.run([sys.executable, "-m", "benchmarks.gpu_check", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


COUNT_FLOPS = """
import sys
from torch.utils.flop_counter import FlopCounterMode
from benchmarks.mfu import counted_attention
from benchmarks.overhead import plain_setup, training_loss
cfg, spec, datamodule = plain_setup("surrogate", 100, *sys.argv[1:])
module = spec.resolve("module")(cfg, datamodule).train()
with counted_attention(), FlopCounterMode(display=False) as counter:
    training_loss("surrogate", module)(datamodule.datasets["train"][list(range(datamodule.batch_size))]).backward()
linear = sum(v for k, v in counter.get_flop_counts()["Global"].items() if str(k) in ("aten.mm", "aten.addmm"))
print(linear, counter.get_total_flops())
"""


def counted_flops(*overrides: str) -> tuple[int, int]:
    """FlopCounterMode's count of one surrogate forward + backward in a fresh interpreter: (its linear layers, all).
    The attention's share (the batched matmuls) depends on which kernel torch routes it through, which depends on
    what ran before in the process; the linear layers' count does not."""
    env = cli_env()
    env["PYTHONPATH"] = f"{ROOT}:{env['PYTHONPATH']}"
    res = subprocess.run([sys.executable, "-c", COUNT_FLOPS, *overrides], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    linear, total = res.stdout.strip().splitlines()[-1].split()
    return int(linear), int(total)


def rows(markdown: str) -> dict[tuple[str, str], list[str]]:
    """Table rows by their first two cells."""
    cells = [[c.strip() for c in line.strip().strip("|").split("|")] for line in markdown.splitlines() if line.startswith("| ")]
    return {(r[0], r[1]): r for r in cells if len(r) > 2}


@pytest.mark.slow
def test_smoke_mode_writes_every_table_with_the_counted_flops(tmp_path, data_cache):
    out = tmp_path / "GPU_CHECK.md"
    res = run_check("--device", "cpu", "--smoke", "--out", str(out))
    assert res.returncode == 0, res.stderr[-3000:]
    markdown = out.read_text()
    assert [line for line in markdown.splitlines() if line.startswith("## ")] == list(TITLES)
    assert "| device |" in markdown and "| torch |" in markdown and "| commit |" in markdown and "| date |" in markdown
    assert "| failed:" not in markdown, [line for line in markdown.splitlines() if "| failed:" in line]  # every code path ran
    table = rows(markdown)

    # 2: the surrogate's 32-true row trained, and its FLOPs are FlopCounterMode's for one forward + backward of that batch
    row = table[("surrogate", "32-true")]
    batch_size, samples_per_s, flops = int(row[2]), float(row[3].replace(",", "")), int(row[5].replace(",", ""))
    assert samples_per_s > 0
    linear, total = counted_flops("data.universe.n_planets=256", f"data.universe.cache_dir={data_cache}", f"components.surrogate.batch_size={batch_size}")
    assert 0 < linear <= flops <= total and linear > 0.85 * total  # the linear layers' FLOPs, and at most the attention's on top
    assert int(table[("datacube", "32-true")][5].replace(",", "")) > 1e9  # the 3D U-Net: a real count, not zero

    # the parts only a CUDA device runs are rows that say why they were skipped
    for key in (("fp32 (TF32 on)", "512"), ("QLoRA (bitsandbytes 4-bit NF4, bf16 compute)", "4bit")):
        assert table[key][2].startswith("skipped:"), table[key]
    cuda_provider = next(r for (name, _), r in table.items() if name == "ONNX Runtime CUDAExecutionProvider")
    assert cuda_provider[1].startswith("skipped:")
    # 1, 3, 4, 5 measured something on the CPU
    assert table[("fp32 (TF32 off)", "512")][2].startswith("**")
    assert table[("astrotrain engine (`train.py`)", "cpu")][5].endswith("%**")
    assert table[("LoRA", "32-true")][4].endswith(" ms")
    assert next(r for (name, _), r in table.items() if name == "ONNX Runtime CPUExecutionProvider")[1].endswith(" ms")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")
def test_without_cuda_it_exits_2_and_writes_nothing(tmp_path):
    out = tmp_path / "runs" / "GPU_CHECK.md"
    res = run_check("--out", str(out), timeout=300)
    assert res.returncode == 2, res.stderr[-2000:]
    assert "no CUDA device" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []
