"""GPU readiness check: what this CUDA machine gives astrotrain, in one Markdown file (< 8 min on an H100).

    python -m benchmarks.gpu_check                        # a CUDA machine → runs/benchmarks/GPU_CHECK.md
    python -m benchmarks.gpu_check --device cpu --smoke   # every code path on CPU with tiny sizes (the test suite does this)
    benchmarks/gpu_check.sh   or   make bench-gpu         # the first line with telemetry off and the venv's python

Five tables: (1) the matmul peak per dtype, the denominator of every MFU below; (2) training steps of
`surrogate` and `datacube` at 32-true, 16-mixed and bf16-mixed — samples/s, step time, MFU, peak memory;
(3) the astrotrain engine vs a plain loop on one GPU; (4) the LLM's LoRA and QLoRA steps; (5) ONNX Runtime's
CUDA provider for `predict`. Every measurement runs a fixed small number of steps; a part that fails or
cannot run here writes its row ("failed: …", "skipped: …") and the check goes on. Without a CUDA device
(and without `--device cpu`) it writes nothing and exits 2.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import importlib.util
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import lightning as L
import numpy as np
import torch

from .harness import ROOT, Section, config, machine, table
from .mfu import counted_attention
from .overhead import engine_run, plain_run, plain_setup, step_times, training_loss
from .overhead import synchronise as sync

DEFAULT_OUT = ROOT / "runs" / "benchmarks" / "GPU_CHECK.md"
PRECISIONS = {"32-true": None, "16-mixed": torch.float16, "bf16-mixed": torch.bfloat16}
PEAK_OF = {"32-true": "fp32", "16-mixed": "fp16", "bf16-mixed": "bf16"}  # 32-true runs with TF32 off, PyTorch's default
MATMULS = {"fp32 (TF32 off)": ("fp32", torch.float32, False), "fp32 (TF32 on)": ("fp32-tf32", torch.float32, True),
           "bf16": ("bf16", torch.bfloat16, False), "fp16": ("fp16", torch.float16, False)}
NO_BF16 = "skipped: bf16 not supported by this GPU"


@dataclass(frozen=True)
class Plan:
    """Sizes and step counts, fixed so that the whole check has a known cost."""

    matmul_n: int
    matmul_repeats: int
    warmup: int  # untimed steps before every timed series
    steps: int  # timed steps of every series
    batches: dict  # component → (its default batch, a GPU-sized batch)
    engine_steps: int
    engine_repeats: int
    onnx_batches: tuple
    overrides: tuple  # config overrides of every run (the universe)
    llm: tuple = ()  # overrides of the LLM's size


def plan_for(smoke: bool, device: torch.device, scratch: Path) -> Plan:
    if not smoke:  # a 2048-planet universe (~20 s to generate once, then cached in data/universe): enough for batch 1024
        return Plan(8192, 20, 10, 30, {"surrogate": (64, 1024), "datacube": (8, 32)}, 60, 3, (1, 4096), ("data.universe.n_planets=2048",))
    llm = ("components.llm.hidden=32", "components.llm.layers=1", "components.llm.heads=2", "components.llm.max_length=64", "components.llm.batch_size=4")
    return Plan(4096 if device.type == "cuda" else 512, 5, 1, 2, {"surrogate": (16, 32), "datacube": (2, 4)}, 14, 1, (1, 64),
                ("data.universe.n_planets=256", f"data.universe.cache_dir={scratch / 'universes'}"), llm)


@dataclass
class Check:
    device: torch.device
    plan: Plan
    workdir: Path
    peaks: dict = field(default_factory=dict)  # "fp32" | "fp32-tf32" | "bf16" | "fp16" → measured FLOP/s

    def __post_init__(self):
        self.cuda = self.device.type == "cuda"
        self.bf16 = not self.cuda or torch.cuda.is_bf16_supported()  # as the engine decides (trainer.resolve_precision)
        self.no_cuda = "skipped: no CUDA device" if not torch.cuda.is_available() else "skipped: --device cpu"


# -- timing, memory, failures ---------------------------------------------------------------------


def timed(call, device: torch.device, repeats: int, warmup: int) -> list[float]:
    """Seconds of each of `repeats` calls after `warmup`, the device synchronised around every call."""
    for _ in range(warmup):
        call()
    sync(device)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        sync(device)
        times.append(time.perf_counter() - started)
    return times


def training_steps(step, check: Check) -> tuple[float, str]:
    """Median seconds of `step` over the plan's timed steps, and the peak memory allocated over them."""
    if check.cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(check.device)
    seconds = statistics.median(timed(step, check.device, check.plan.steps, check.plan.warmup))
    return seconds, f"{torch.cuda.max_memory_allocated(check.device) / 2**30:.2f} GiB" if check.cuda else "n/a (CPU)"


def to_device(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}


def first_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0]}".replace("|", "/")


def guarded(label: list, width: int, rows_of) -> list[list]:
    """`rows_of()`, or one row "failed: <exception>" padded to `width` cells after `label` (the check goes on)."""
    try:
        return rows_of()
    except Exception as exc:  # noqa: BLE001 - a readiness check reports every failure and carries on
        print(f"gpu_check:   {' / '.join(map(str, label))} failed: {type(exc).__name__}: {exc}", flush=True)
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        return [padded(label, width, f"failed: {first_line(exc)}")]


def padded(label: list, width: int, text: str) -> list:
    return [*label, text, *[""] * (width - len(label) - 1)]


# -- the five tables -------------------------------------------------------------------------------


def matmul_rows(check: Check) -> list[list]:
    """`torch.matmul` of two n×n matrices: 2·n³ FLOPs over the median time of the repeats, the device
    synchronised around each call; `TF32 on` = `torch.backends.cuda.matmul.allow_tf32 = True` (off is
    PyTorch's default). These are the peaks table 2's MFU is measured against."""
    n, rows = check.plan.matmul_n, []
    for name, (key, dtype, tf32) in MATMULS.items():
        if tf32 and not check.cuda:
            rows.append(padded([name, n], 4, check.no_cuda))
        else:
            rows += [padded([name, n], 4, NO_BF16)] if dtype is torch.bfloat16 and not check.bf16 else \
                guarded([name, n], 4, partial(matmul_row, check, name, key, dtype, tf32))
    return rows


def matmul_row(check: Check, name: str, key: str, dtype: torch.dtype, tf32: bool) -> list[list]:
    n, before = check.plan.matmul_n, torch.backends.cuda.matmul.allow_tf32  # the CUDA flag alone: CPU matmuls stay as they are
    a, b = (torch.randn(n, n, device=check.device, dtype=dtype) for _ in range(2))
    out = torch.empty(n, n, device=check.device, dtype=dtype)
    try:
        torch.backends.cuda.matmul.allow_tf32 = tf32 if check.cuda else before
        seconds = timed(lambda: torch.matmul(a, b, out=out), check.device, check.plan.matmul_repeats, 3)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = before
    flops = 2 * n**3
    check.peaks[key] = flops / statistics.median(seconds)
    return [[name, n, f"**{check.peaks[key] / 1e12:.1f}** ({flops / max(seconds) / 1e12:.1f}–{flops / min(seconds) / 1e12:.1f})",
             f"{statistics.median(seconds) * 1e3:.2f} ms"]]


def training_rows(check: Check) -> list[list]:
    """One batch of the train split, the whole step (forward under `torch.autocast` for mixed precision,
    backward — through `torch.amp.GradScaler` under 16-mixed — gradient clipping, AdamW), median of the timed
    steps after a warm-up; a fresh model per row. FLOPs: one forward + backward counted by `FlopCounterMode`;
    MFU against table 1's peak of the matching dtype (32-true: fp32 with TF32 off, PyTorch's default). Peak
    memory: `torch.cuda.max_memory_allocated` over the steps (model, AdamW state, activations)."""
    rows = []
    for component, batches in check.plan.batches.items():
        for batch_size in batches:
            print(f"gpu_check:   {component}, batch {batch_size}", flush=True)
            rows += guarded([component, "all", batch_size], 9, partial(training_case, check, component, batch_size))
    return rows


def training_case(check: Check, component: str, batch_size: int) -> list[list]:
    from torch.utils.flop_counter import FlopCounterMode

    cfg, spec, datamodule = plain_setup(component, 100, *check.plan.overrides, f"components.{component}.batch_size={batch_size}")
    dataset = datamodule.datasets["train"]
    batch = to_device(dataset[[i % len(dataset) for i in range(batch_size)]], check.device)
    module = spec.resolve("module")(cfg, datamodule).to(check.device).train()
    with counted_attention(), FlopCounterMode(display=False) as counter:  # float32, outside autocast: the same count for every precision
        training_loss(component, module)(batch).backward()
    del module
    return [row for precision in PRECISIONS for row in (
        [padded([component, precision, batch_size], 9, NO_BF16)] if precision == "bf16-mixed" and not check.bf16
        else guarded([component, precision, batch_size], 9, partial(step_row, check, spec, cfg, datamodule, batch, precision,
                                                                    counter.get_total_flops())))]


def step_row(check: Check, spec, cfg, datamodule, batch: dict, precision: str, flops: int) -> list[list]:
    torch.manual_seed(cfg.run.seed)
    module = spec.resolve("module")(cfg, datamodule).to(check.device).train()
    loss_of, dtype = training_loss(spec.name, module), PRECISIONS[precision]
    optimiser = torch.optim.AdamW(module.parameters(), lr=1e-4, foreach=True)
    scaler = torch.amp.GradScaler(check.device.type, enabled=precision == "16-mixed")

    def step():
        with torch.autocast(check.device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            loss = loss_of(batch)
        optimiser.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(optimiser)
        torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
        scaler.step(optimiser)
        scaler.update()

    seconds, memory = training_steps(step, check)
    achieved, peak = flops / seconds, check.peaks.get(PEAK_OF[precision])
    size = len(next(iter(batch.values())))
    return [[spec.name, precision, size, f"{size / seconds:,.0f}", f"{seconds * 1e3:.2f} ms", f"{flops:,}", f"{achieved / 1e12:.3f}",
             f"**{achieved / peak * 100:.1f} %**" if peak else "n/a (no peak)", memory]]


class SyncedClock(L.Callback):
    """Batch-start times, the device synchronised first: an interval holds the whole step's GPU work."""

    def __init__(self, device: torch.device):
        self.device, self.starts = device, []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        sync(self.device)
        self.starts.append(time.perf_counter())


def overhead_rows(check: Check) -> list[list]:
    """Surrogate at its default batch: `train_component` exactly as `python train.py` runs it (every callback,
    CSV logging, the stateful loader; `trainer.accelerator=gpu` on CUDA) vs a plain loop over the same model,
    loss, data, AdamW + schedule and clipping, under the same determinism setting (`run.deterministic`). The
    device is synchronised at every batch start; a run's step = its median interval after the warm-up; the
    loops alternate, run after run."""
    plan, reference, engine = check.plan, "plain PyTorch loop (reference)", "astrotrain engine (`train.py`)"
    cfg, spec, datamodule = plain_setup("surrogate", plan.engine_steps, *plan.overrides)
    deterministic = torch.are_deterministic_algorithms_enabled()
    if cfg.run.deterministic:  # what the engine sets (build_trainer, then Lightning): the plain loop runs under it too
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    medians = {reference: [], engine: []}
    try:
        for index in range(plan.engine_repeats):
            torch.use_deterministic_algorithms(cfg.run.deterministic)
            medians[reference].append(statistics.median(plain_run(cfg, spec, datamodule, plan.engine_steps, device=check.device)))
            clock = SyncedClock(check.device)
            engine_run("surrogate", plan.engine_steps, check.workdir, index, *plan.overrides, f"trainer.accelerator={'gpu' if check.cuda else 'cpu'}",
                       extra=(clock,))
            medians[engine].append(statistics.median(step_times(clock.starts)))
    finally:
        torch.use_deterministic_algorithms(deterministic)
    rows = []
    for name, values in medians.items():
        best, typical = min(values) / min(medians[reference]) - 1, statistics.median(values) / statistics.median(medians[reference]) - 1
        rows.append([name, str(check.device), datamodule.batch_size, f"{min(values) * 1e3:.2f} ms", f"{statistics.median(values) * 1e3:.2f} ms",
                     *(["", ""] if name == reference else [f"**{best * 100:+.1f} %**", f"{typical * 100:+.1f} %"])])
    return rows


def llm_rows(check: Check) -> list[list]:
    """The `llm` component's offline tiny Llama built from its config (no download), peft LoRA on its default
    modules and the fusion prefix projector, a step of `LLMModule.loss` + AdamW on the trainable weights; random
    tokens at `max_length` (an upper bound on a real batch, which is cut to its longest pair). QLoRA: the same
    model saved and loaded 4-bit through `load_causal_lm` (NF4 weights, bf16 compute), as a real model is."""
    cfg = config(*check.plan.overrides, *check.plan.llm)
    rows = guarded(["LoRA", "32-true"], 7, partial(llm_row, check, cfg, "LoRA", "32-true"))
    rows += guarded(["LoRA", "bf16-mixed"], 7, partial(llm_row, check, cfg, "LoRA", "bf16-mixed")) if check.bf16 else [padded(["LoRA", "bf16-mixed"], 7, NO_BF16)]
    label = ["QLoRA (bitsandbytes 4-bit NF4, bf16 compute)", "4bit"]
    if not check.cuda:
        return rows + [padded(label, 7, check.no_cuda)]
    try:
        importlib.import_module("bitsandbytes")
    except Exception as exc:  # noqa: BLE001 - not installed, or installed without its CUDA library
        return rows + [padded(label, 7, f"skipped: bitsandbytes does not import ({first_line(exc)}); pip install 'astrotrain[qlora]'")]
    return rows + guarded(label, 7, partial(llm_row, check, cfg, label[0], "4bit"))


def llm_row(check: Check, cfg, adapter: str, precision: str) -> list[list]:
    from astrotrain.components.llm.model import PrefixProjector, load_causal_lm, tiny_llama, with_lora
    from astrotrain.components.llm.module import LLMModule

    lc, device, d_fusion = cfg.components.llm, check.device, cfg.components.multimodal.d_model
    intermediate = 8 * round(lc.hidden * 8 / 3 / 8)  # as module.build_module sizes it
    base = tiny_llama(lc.vocab_size, lc.hidden, lc.layers, lc.heads, intermediate, lc.max_length + lc.prefix_tokens + lc.max_new_tokens, cfg.run.seed)
    if precision == "4bit":
        base.save_pretrained(check.workdir / "tiny-llama")
        base = load_causal_lm(str(check.workdir / "tiny-llama"), quantization="4bit")
    model = with_lora(base.to(device) if precision != "4bit" else base, lc.lora_r, lc.lora_alpha, lc.lora_dropout, lc.target_modules)
    projector = PrefixProjector(d_fusion, lc.hidden, lc.prefix_tokens).to(device) if lc.prefix_tokens else None
    module = LLMModule(lc, model, projector, None, {})
    generator = torch.Generator().manual_seed(cfg.run.seed)
    ids = torch.randint(3, lc.vocab_size, (lc.batch_size, lc.max_length), generator=generator)
    labels = ids.masked_fill(torch.arange(lc.max_length) < lc.max_length // 2, -100)  # the question carries no loss
    batch = to_device({"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels,
                       "fusion_embedding": torch.randn(lc.batch_size, d_fusion, generator=generator)}, device)
    params = [p for p in module.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(params, lr=lc.lr, foreach=True)

    def step():
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16-mixed"):
            loss = module.loss(batch)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimiser.step()

    seconds, memory = training_steps(step, check)
    return [[adapter, precision, f"{lc.batch_size} × {lc.max_length}", f"{sum(p.numel() for p in params):,}", f"{seconds * 1e3:.2f} ms",
             f"{lc.batch_size * lc.max_length / seconds:,.0f}", memory]]


def onnx_rows(check: Check) -> list[list]:
    """The surrogate transformer's surface-temperature model exported as phase 5 exports it (untrained weights:
    speed does not depend on them), timed in PyTorch on the device, ONNX Runtime's CPU provider and, where
    onnxruntime-gpu is installed, its CUDA provider: numpy in, outputs back on the host, per call."""
    import onnxruntime as ort

    from astrotrain.components.production import export
    from astrotrain.components.production.model import SurfaceTemperatureModel
    from astrotrain.components.production.runtime import session

    cfg, spec, datamodule = plain_setup("surrogate", 100, *check.plan.overrides)
    model = SurfaceTemperatureModel(spec.resolve("module")(cfg, datamodule).model).eval()
    features = datamodule.datasets["train"].tensors["features"].numpy()
    path = export.export_onnx(model, "surrogate", torch.from_numpy(features[:2]), check.workdir / "surrogate.onnx", cfg.components.production.opset)
    inputs = {b: np.ascontiguousarray(np.resize(features, (b, features.shape[1])), dtype=np.float32) for b in check.plan.onnx_batches}
    model.to(check.device)
    with torch.inference_mode():
        name = f"PyTorch ({check.device})"
        rows = guarded([name], 4, lambda: predict_row(check, name, lambda x: model(torch.from_numpy(x).to(check.device)), inputs))
    cpu = session(path)
    rows += predict_row(check, "ONNX Runtime CPUExecutionProvider", lambda x: cpu.run(None, {"features": x}), inputs)
    name = "ONNX Runtime CUDAExecutionProvider"
    if not check.cuda:
        return rows + [padded([name], 4, check.no_cuda)]
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return rows + [padded([name], 4, "skipped: onnxruntime-gpu not installed (pip install onnxruntime-gpu)")]
    return rows + guarded([name], 4, lambda: predict_row(check, name, cuda_session(path), inputs))


def cuda_session(path: Path):
    import onnxruntime as ort

    if hasattr(ort, "preload_dlls"):  # CUDA/cuDNN from torch's wheels, where onnxruntime-gpu finds none of its own
        ort.preload_dlls()
    options = ort.SessionOptions()
    options.log_severity_level = 3
    sess = ort.InferenceSession(str(path), options, providers=["CUDAExecutionProvider", "CPUExecutionProvider"])
    if sess.get_providers()[0] != "CUDAExecutionProvider":
        raise RuntimeError(f"the CUDA provider did not load (the session runs on {sess.get_providers()}): check CUDA/cuDNN against onnxruntime-gpu")
    return lambda x: sess.run(None, {"features": x})


def predict_row(check: Check, name: str, call, inputs: dict) -> list[list]:
    calls = max(check.plan.steps, 10)
    medians = {b: statistics.median(timed(partial(call, x), check.device, calls, check.plan.warmup)) for b, x in inputs.items()}
    large = max(medians)
    return [[name, f"{medians[min(medians)] * 1e3:.3f} ms", f"{medians[large] * 1e3:.2f} ms", f"{large / medians[large]:,.0f}"]]


# -- the file --------------------------------------------------------------------------------------

SECTIONS = (  # run in this order, but 3 last: it leaves the engine's process-wide settings (CUBLAS_WORKSPACE_CONFIG) behind
    ("1. Matmul peak", ["dtype", "n", "TFLOP/s median (min–max)", "time per matmul"], matmul_rows),
    ("2. Training steps: throughput, MFU, memory", ["component", "precision", "batch", "samples/s", "step time (median)",
                                                    "FLOPs per step (fwd+bwd)", "achieved TFLOP/s", "MFU", "peak memory"], training_rows),
    ("3. Engine vs plain loop on one device", ["loop", "device", "batch", "step, best run", "step, median run", "vs plain, best runs",
                                               "vs plain, median runs"], overhead_rows),
    ("4. LLM: LoRA and QLoRA steps", ["adapter", "precision", "batch × tokens", "trainable parameters", "step time (median)", "tokens/s",
                                      "peak memory"], llm_rows),
    ("5. ONNX Runtime for `predict`", ["backend", "batch 1 latency (median)", "largest batch: time per call", "planets/s at the largest batch"],
     onnx_rows),
)


def header(check: Check, smoke: bool, minutes: float, argv: list[str]) -> str:
    info = machine()
    try:
        import onnxruntime as ort

        onnx = f"{ort.__version__} ({', '.join(ort.get_available_providers())})"
    except Exception as exc:  # noqa: BLE001
        onnx = f"does not import ({first_line(exc)})"
    bnb = importlib.metadata.version("bitsandbytes") if importlib.util.find_spec("bitsandbytes") else "not installed"
    device = torch.cuda.get_device_name(check.device) if check.cuda else f"CPU: {info['cpu']} ({info['cores']} cores)"
    rows = [["date", info["date"]], ["device", device], ["torch", torch.__version__], ["CUDA (torch build)", torch.version.cuda or "none"],
            ["cuDNN", torch.backends.cudnn.version() or "none"], ["bf16", "supported" if check.bf16 else "not supported"], ["onnxruntime", onnx],
            ["bitsandbytes", bnb], ["commit", info["commit"]], ["mode", "smoke: tiny sizes, checks the code paths, not the machine" if smoke else "full"]]
    return "\n".join(["# astrotrain GPU readiness check", "", f"Generated by `{' '.join(['python -m benchmarks.gpu_check', *argv])}` in {minutes:.1f} min; "
                      "every figure measured in that run on the device below. A `failed: …` row names the exception a user would hit.", "",
                      table(["", ""], rows), ""])


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu_check", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"markdown file to write (default {DEFAULT_OUT.relative_to(ROOT)})")
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, few steps: checks that every code path runs (implied by --device cpu without CUDA)")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print(f"gpu_check: no CUDA device visible (torch {torch.__version__}, CUDA build: {torch.version.cuda or 'none'}); nothing written — run it "
              "on a CUDA machine, or `python -m benchmarks.gpu_check --device cpu --smoke` to check the code paths on CPU", file=sys.stderr)
        return 2
    smoke = args.smoke or (args.device == "cpu" and not torch.cuda.is_available())
    os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")
    from astrotrain.engine.trainer import quiet_third_party_noise
    from astrotrain.fsutil import atomic_write_text
    from astrotrain.universe.generate import ensure_universe

    quiet_third_party_noise()
    scratch = Path(tempfile.mkdtemp(prefix="astrotrain-gpu-check-"))
    check = Check(torch.device(args.device), plan_for(smoke, torch.device(args.device), scratch), scratch)
    started, sections = time.perf_counter(), {}
    try:
        print("gpu_check: the universe (generated once, outside the timings) ...", flush=True)
        ensure_universe(config(*check.plan.overrides).data.universe, progress=False)
        for index in (0, 1, 3, 4, 2):
            title, headers, rows_of = SECTIONS[index]
            print(f"gpu_check: {title} ...", flush=True)
            section_started = time.perf_counter()
            rows = guarded([], len(headers), partial(rows_of, check))
            intro = " ".join(line.strip() for line in rows_of.__doc__.splitlines())
            sections[index] = Section(title, intro, [table(headers, rows)], [f"measured in {time.perf_counter() - section_started:.0f} s"])
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    text = header(check, smoke, (time.perf_counter() - started) / 60, argv) + "\n" + "\n".join(sections[i].markdown() for i in sorted(sections))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, text)
    print(f"gpu_check: {len(sections)} sections in {(time.perf_counter() - started) / 60:.1f} min → {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
