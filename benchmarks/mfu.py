"""7. Physical limit: achieved FLOP/s of the models' training steps and dominant operations vs this
CPU's measured peak.

Peak: a plain `torch.matmul` of two 2048×2048 float32 matrices (2·2048³ FLOPs), the median of
`REPEATS` calls, in this process with the same threads. Training step: FLOPs of one forward +
backward counted by `torch.utils.flop_counter.FlopCounterMode` (matmuls and convolutions, which
carry the FLOPs), divided by the median time of the whole step (forward, backward, gradient
clipping, AdamW) repeated on one batch. Dominant operations: `torch.profiler` with
`with_flops=True` over `PROFILED_STEPS` steps, grouped by input shape; the top operations by FLOPs
with their CPU time (inclusive of the kernels they call). The profiler counts FLOPs of forward
matmuls and convolutions only; their backward kernels are in the step's figure.
"""

from __future__ import annotations

import torch

from .harness import Context, Section, Spread, intro, repeat, table
from .overhead import plain_setup, training_loss

REPEATS = 20
PROFILED_STEPS = 5
TOP_OPS = 3


def matmul_peak(n: int = 2048) -> Spread:
    """FLOP/s of `torch.matmul` of two n×n float32 matrices (median, and the range over the repeats)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    seconds = repeat(lambda: torch.matmul(a, b), REPEATS)
    flops = 2 * n**3
    return Spread(flops / seconds.median, flops / seconds.high, flops / seconds.low, seconds.n)


def model_flops(component: str, peak: float) -> tuple[list[list], list[list], dict]:
    from torch.utils.flop_counter import FlopCounterMode

    cfg, spec, datamodule = plain_setup(component, 100)
    torch.manual_seed(0)
    module = spec.resolve("module")(cfg, datamodule)
    module.train()
    loss_of = training_loss(component, module)
    optimiser = torch.optim.AdamW(module.parameters(), lr=1e-4, foreach=True)
    dataset = datamodule.datasets["train"]
    batch = dataset[list(range(datamodule.batch_size))]

    def step():
        loss = loss_of(batch)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
        optimiser.step()

    with FlopCounterMode(display=False) as counter:
        loss_of(batch).backward()
    flops = counter.get_total_flops()
    step_s = repeat(step, REPEATS, warmup=3).median
    achieved = flops / step_s
    step_row = [component, datamodule.batch_size, f"{flops / 1e9:.3f}", f"{step_s * 1e3:.2f} ms", f"{achieved / 1e9:.1f}", f"**{achieved / peak * 100:.1f} %**"]

    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], record_shapes=True, with_flops=True) as prof:
        for _ in range(PROFILED_STEPS):
            step()
    ops = [e for e in prof.key_averages(group_by_input_shape=True) if e.flops and e.cpu_time_total > 0]
    ops.sort(key=lambda e: e.flops, reverse=True)
    op_rows = []
    for e in ops[:TOP_OPS]:
        rate = e.flops / (e.cpu_time_total * 1e-6)  # inclusive: a conv2d's work is in its children
        shapes = " × ".join(str(tuple(s)) for s in e.input_shapes[:2] if s)
        op_rows.append([component, f"`{e.key}`", shapes, e.count // PROFILED_STEPS, f"{e.flops / e.count / 1e6:.1f}",
                        f"{e.cpu_time_total / e.count:.0f} µs", f"{rate / 1e9:.1f}", f"{rate / peak * 100:.1f} %"])
    return [step_row], op_rows, {"flops_per_step": flops, "step_s": step_s, "achieved_flops": achieved, "mfu": achieved / peak}


def run(ctx: Context) -> Section:
    peak = matmul_peak()
    step_rows, op_rows, results = [], [], {"peak_flops": peak.__dict__}
    for component in ("surrogate", "datacube"):
        s, o, r = model_flops(component, peak.median)
        step_rows += s
        op_rows += o
        results[component] = r
    return Section(
        "7. Physical limit: model FLOPs utilisation",
        intro(__doc__),
        tables=[
            table(["reference", "GFLOP/s"], [["`torch.matmul` 2048×2048 float32 (this CPU's peak, measured)", peak.scaled(1e-9).show("{:.1f}")]]),
            table(["model", "batch", "GFLOP per step (fwd+bwd)", "step time (median)", "achieved GFLOP/s", "MFU"], step_rows),
            table(["model", "operation", "input shapes", "calls per step", "MFLOP per call", "CPU time per call", "GFLOP/s", "of peak"], op_rows),
        ],
        results=results,
    )
