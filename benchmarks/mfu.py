"""7. Physical limit: achieved FLOP/s of the models' training steps and dominant operations vs this
CPU's measured peak, and what each speed setting of the engine buys, measured side by side.

Peak: a plain `torch.matmul` of two 2048×2048 matrices (2·2048³ FLOPs), the median of `REPEATS`
calls, in this process with the same threads (float32, and bfloat16 for the bf16 rows). Training
step: FLOPs of one forward + backward counted by `torch.utils.flop_counter.FlopCounterMode`
(matmuls and convolutions, which carry the FLOPs) on the eager float32 model, divided by the median
time of the whole step (forward, backward, gradient clipping, AdamW) repeated on one batch; MFU
against the float32 peak. Each setting is one engine option (`trainer.*`, or the component's batch
size) on top of the reference row, timed in the same process, alternating with it; "result vs
reference" trains both `AGREEMENT_STEPS` steps from the same weights on the same batch and gives the
largest parameter difference relative to the parameters' scale (0 = bitwise identical). Dominant
operations: `torch.profiler` with `with_flops=True` over `PROFILED_STEPS` reference steps, grouped
by input shape (forward matmuls and convolutions; their backward kernels are in the step's figure).
"""

from __future__ import annotations

import copy
import time
from types import SimpleNamespace

import torch

from astrotrain.engine.trainer import prepare_module

from .harness import Context, Section, Spread, intro, repeat, table
from .overhead import plain_setup, training_loss

REPEATS = 20
PROFILED_STEPS = 5
AGREEMENT_STEPS = 5
TOP_OPS = 3
BF16_N = 512
SETTINGS = {  # component: {row: (batch size or None for the default, engine options)}
    "surrogate": {
        "reference (batch 64, foreach AdamW, float32, eager)": (None, {}),
        "`trainer.optimizer_kernel=fused`": (None, {"fused": True}),
        "`trainer.compile=true`": (None, {"compile": True}),
        "`trainer.precision=bf16-mixed`": (None, {"bf16": True}),
        "batch 256 (the throughput knee, table 6)": (256, {}),
        "batch 256 + fused + compile": (256, {"fused": True, "compile": True}),
    },
    "datacube": {
        "reference (batch 8, foreach AdamW, float32, eager)": (None, {}),
        "`trainer.optimizer_kernel=fused`": (None, {"fused": True}),
        "`trainer.channels_last=true`": (None, {"channels_last": True}),
        "`trainer.compile=true`": (None, {"compile": True}),
        "`trainer.precision=bf16-mixed`": (None, {"bf16": True}),
        "channels-last + fused + compile": (None, {"fused": True, "channels_last": True, "compile": True}),
    },
}


def matmul_peak(n: int = 2048, dtype=torch.float32, repeats: int = REPEATS) -> Spread:
    """FLOP/s of `torch.matmul` of two n×n matrices (median, and the range over the repeats)."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    seconds = repeat(lambda: torch.matmul(a, b), repeats)
    flops = 2 * n**3
    return Spread(flops / seconds.median, flops / seconds.high, flops / seconds.low, seconds.n)


class Setting:
    """One component's training step under one set of engine options, on one fixed batch."""

    def __init__(self, component: str, reference_module, datamodule, batch_size: int, options: dict):
        self.module = copy.deepcopy(reference_module)
        prepare_module(self.module, SimpleNamespace(compile=bool(options.get("compile")), channels_last=bool(options.get("channels_last"))))
        self.options = options
        self.loss_of = training_loss(component, self.module)
        self.reset_optimiser()
        self.batch = datamodule.datasets["train"][list(range(batch_size))]
        self.compile_s = None
        if options.get("compile"):
            # dynamo caches per code object, shared by every instance of the class: without a reset, a second batch
            # size recompiles the forward for dynamic shapes (slower kernels than a training run's fixed batch gets)
            torch._dynamo.reset()
            started = time.perf_counter()
            self.step()  # the first call traces and compiles forward and backward
            self.compile_s = time.perf_counter() - started

    def reset_optimiser(self) -> None:
        fused = bool(self.options.get("fused"))
        self.optimiser = torch.optim.AdamW(self.module.parameters(), lr=1e-4, foreach=not fused, fused=fused)

    def step(self) -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bool(self.options.get("bf16"))):
            loss = self.loss_of(self.batch)
        self.optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.module.parameters(), 1.0)
        self.optimiser.step()


def agreement(component: str, module, datamodule, batch_size: int, options: dict) -> float:
    """Largest |Δparameter| / max |parameter| after AGREEMENT_STEPS steps: this setting vs the reference."""
    runs = []
    for opts in ({}, options):
        torch.manual_seed(0)
        setting = Setting(component, module, datamodule, batch_size, opts)
        if opts.get("compile"):  # its compiling call took a step: start both from the same weights again
            setting.module.load_state_dict(module.state_dict())
            setting.reset_optimiser()
        for _ in range(AGREEMENT_STEPS):
            setting.step()
        runs.append(torch.cat([p.detach().flatten().float() for p in setting.module.parameters()]))
    return float((runs[0] - runs[1]).abs().max() / runs[0].abs().max())


def settings_rows(component: str, peak: float, quick: bool) -> tuple[list[list], dict]:
    cfg, spec, datamodule = plain_setup(component, 100)
    torch.manual_seed(0)
    module = spec.resolve("module")(cfg, datamodule)
    module.train()
    rows, results, reference_rate = [], {"settings": {}}, None
    for name, (batch_size, options) in SETTINGS[component].items():
        if quick and (options.get("compile") or options.get("bf16")):  # the slow ones: --quick checks that the section runs
            continue
        batch_size = min(batch_size or datamodule.batch_size, len(datamodule.datasets["train"]))  # --quick: a small universe
        flops = forward_backward_flops(component, module, datamodule, batch_size)
        setting = Setting(component, module, datamodule, batch_size, options)
        step_s = repeat(setting.step, REPEATS if not quick else 3, warmup=3).median
        rate = batch_size / step_s
        reference_rate = reference_rate or rate
        same = batch_size == datamodule.batch_size
        drift = agreement(component, module, datamodule, batch_size, options) if options and same else None
        result = "reference" if not options and same else "another batch: another training run" if not same else _drift(drift)
        compiled = f" (compiling: {setting.compile_s:.0f} s)" if setting.compile_s else ""
        rows.append([component, name, batch_size, f"{step_s * 1e3:.2f} ms{compiled}", f"{rate:,.0f}", f"**{rate / reference_rate:.2f}×**",
                     f"{flops / step_s / 1e9:.1f}", f"**{flops / step_s / peak * 100:.1f} %**", result])
        if not options and same:
            results["flops_per_step"], results["mfu"] = flops, flops / step_s / peak
        results["settings"][name] = {"batch": batch_size, "flops_per_step": flops, "step_s": step_s, "samples_per_s": rate,
                         "speedup": rate / reference_rate, "mfu": flops / step_s / peak, "max_rel_param_diff": drift, "compile_s": setting.compile_s}
    return rows, results


def forward_backward_flops(component: str, module, datamodule, batch_size: int) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    batch = datamodule.datasets["train"][list(range(batch_size))]
    probe = copy.deepcopy(module)
    with counted_attention(), FlopCounterMode(display=False) as counter:
        training_loss(component, probe)(batch).backward()
    return counter.get_total_flops()


def counted_attention():
    """Attention through SDPA's math backend while FLOPs are counted: FlopCounterMode counts its matmuls, but not
    the fused CPU flash kernel, which torch picks for the same call once an autocast step has run in the process."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    return sdpa_kernel(SDPBackend.MATH)


def dominant_operations(component: str, peak: float) -> list[list]:
    cfg, spec, datamodule = plain_setup(component, 100)
    torch.manual_seed(0)
    module = spec.resolve("module")(cfg, datamodule)
    setting = Setting(component, module, datamodule, datamodule.batch_size, {})
    setting.step()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], record_shapes=True, with_flops=True) as prof:
        for _ in range(PROFILED_STEPS):
            setting.step()
    ops = [e for e in prof.key_averages(group_by_input_shape=True) if e.flops and e.cpu_time_total > 0]
    ops.sort(key=lambda e: e.flops, reverse=True)
    rows = []
    for e in ops[:TOP_OPS]:
        rate = e.flops / (e.cpu_time_total * 1e-6)  # inclusive: a conv2d's work is in its children
        shapes = " × ".join(str(tuple(s)) for s in e.input_shapes[:2] if s)
        rows.append([component, f"`{e.key}`", shapes, e.count // PROFILED_STEPS, f"{e.flops / e.count / 1e6:.1f}",
                     f"{e.cpu_time_total / e.count:.0f} µs", f"{rate / 1e9:.1f}", f"{rate / peak * 100:.1f} %"])
    return rows


def _drift(value: float) -> str:
    return "identical" if value == 0 else f"{value:.1e}"


def run(ctx: Context) -> Section:
    peak = matmul_peak()
    peak_bf16 = matmul_peak(BF16_N, torch.bfloat16, repeats=5)  # a CPU without bf16 instructions takes seconds for n = 2048
    step_rows, op_rows, results = [], [], {"peak_flops": peak.__dict__, "peak_flops_bf16": peak_bf16.__dict__}
    for component in SETTINGS:
        rows, results[component] = settings_rows(component, peak.median, ctx.quick)
        step_rows += rows
        op_rows += dominant_operations(component, peak.median)
    return Section(
        "7. Physical limit: model FLOPs utilisation",
        intro(__doc__),
        tables=[
            table(["reference", "GFLOP/s"], [["`torch.matmul` 2048×2048 float32 (this CPU's peak, measured)", peak.scaled(1e-9).show("{:.1f}")],
                                             [f"`torch.matmul` {BF16_N}×{BF16_N} bfloat16", peak_bf16.scaled(1e-9).show("{:.1f}")]]),
            table(["model", "setting", "batch", "step time (median)", "samples/s", "vs reference", "achieved GFLOP/s", "MFU (float32 peak)",
                   "result vs reference"], step_rows),
            table(["model", "operation", "input shapes", "calls per step", "MFLOP per call", "CPU time per call", "GFLOP/s", "of peak"], op_rows),
        ],
        results=results,
    )
