"""3. The learned models vs the physics they replace, on the same planets, in one process.

Surrogate: the surrogate transformer (its surface-temperature map) trained here for `EPOCHS`
epochs on the default universe, its distilled fast surrogate (phase 5's recipe, on fewer prior
planets), each in PyTorch, ONNX Runtime and ONNX int8, against CLERO's `predict` of the same test
planets' surface temperature: planets/s at batch 1 (from the p50 latency) and at each one's best
batch (`components.production.batch_sizes`), with the held-out surface-T RMSE against CLERO at
which that speed holds. These short trainings are less accurate than the pipeline's (150 epochs:
0.67 K, README); speed does not depend on training length.

Evolution: the evolution tracker (trained here for `EVOLUTION_EPOCHS` epochs) forecasting test
trajectories in one batch vs `solve_ivp` integrating the same planets one by one (the component's
own report) and all at once (the universe generator's vectorised integration).
"""

from __future__ import annotations

import time

from .harness import Context, Section, Spread, config, intro, table

EPOCHS = (40, 10)  # surrogate epochs (full, quick: 256 planets, 30 steps)
EVOLUTION_EPOCHS = (100, 2)
DISTILL = {"full": ["components.production.distill_planets=50000", "components.production.distill_epochs=30"],
           "quick": ["components.production.distill_planets=2048", "components.production.distill_epochs=1", "components.surrogate.warmup_steps=3"]}


def surrogate_vs_clero(ctx: Context) -> tuple[list[list], dict]:
    import clero
    import torch

    from astrotrain.components.production import benchmark, export
    from astrotrain.components.production.distill import distill
    from astrotrain.components.production.heldout import map_metrics
    from astrotrain.components.production.model import SurfaceTemperatureModel
    from astrotrain.components.production.runtime import run_onnx, session
    from astrotrain.components.production.stages import planet_features, test_planets, torch_call
    from astrotrain.components.surrogate import encoder
    from astrotrain.engine.runner import train_component
    from astrotrain.runs.checkpoints import load_verified
    from astrotrain.universe.generate import ensure_universe
    from astrotrain.universe.sampling import PARAMETER_NAMES

    epochs = EPOCHS[ctx.quick]
    cfg = config("run.component=surrogate", f"trainer.max_epochs={epochs}", "components.surrogate.mlp_baseline_epochs=0",
                 "run.name=physics-surrogate", *DISTILL["quick" if ctx.quick else "full"], output_dir=ctx.workdir)
    started = time.perf_counter()
    run = train_component(cfg, {}, with_report=False)
    train_s = time.perf_counter() - started
    teacher = encoder.lend(cfg, load_verified(run.run_dir / "checkpoints" / "last.ckpt")["state_dict"], {}).pretrained.eval()
    student, _ = distill(teacher, cfg.components.production, cfg.data.universe, cfg.run.seed, log=lambda *_: None)
    universe = ensure_universe(cfg.data.universe, progress=False)
    test = test_planets(cfg, universe)
    features = planet_features(universe, test)
    truth = universe.field("surface_temperature", test)
    states = universe.parameters["climate_state"].to_numpy()[test]
    pc = cfg.components.production
    threads = torch.get_num_threads()
    rows, results = [], {}
    models = {"surrogate": ("surrogate transformer", SurfaceTemperatureModel(teacher).eval()),
              "fast_surrogate": ("fast surrogate (distilled MLP)", student)}
    for key, (name, model) in models.items():
        path = export.export_onnx(model, key, torch.from_numpy(features[:2]), ctx.workdir / f"{key}.onnx", pc.opset)
        backends = {"PyTorch": (torch_call(model), export.run_torch(model, features))}
        for label, onnx_path in (("ONNX Runtime", path), ("ONNX int8", export.quantize_int8(path, path.with_suffix(".int8.onnx")))):
            sess = session(onnx_path, threads)
            backends[label] = (lambda x, s=sess: s.run(None, {"features": x}), run_onnx(sess, features))
        for backend, (call, outputs) in backends.items():
            timing = benchmark.measure(call, features, pc)
            rmse = map_metrics(outputs, truth, states, universe.parameters["P0"].to_numpy()[test])["surface_temperature_rmse_K"]
            results[f"{name} / {backend}"] = {**timing, "surface_temperature_rmse_K": rmse}
    physical = universe.parameters[list(PARAMETER_NAMES)].to_numpy()[test[: pc.clero_planets]]
    clero_sizes = [b for b in pc.batch_sizes if b <= pc.clero_planets]
    results["CLERO"] = benchmark.measure(benchmark.clero_call(clero.Emulator()), physical, pc, clero_sizes, calls=50)
    speed = benchmark.speedups({k: v for k, v in results.items() if k != "CLERO"}, results["CLERO"])
    clero_row = results["CLERO"]
    rows.append(["CLERO `predict` (reference)", f"{clero_row['p50_ms']:.2f} ms", "1×", f"{clero_row['best_planets_per_s']:,.0f} (batch {clero_row['best_batch']})", "1×", "0 (it is the truth)"])
    for key, r in results.items():
        if key == "CLERO":
            continue
        rows.append([key, f"{r['p50_ms']:.3f} ms", f"{speed[key]['batch_1']:,.0f}×", f"{r['best_planets_per_s']:,.0f} (batch {r['best_batch']})",
                     f"**{speed[key]['best_batch']:,.0f}×**", f"{r['surface_temperature_rmse_K']:.2f} K"])
    return rows, {"timings": results, "speedup_over_clero": speed, "surrogate_epochs": epochs, "train_s": train_s, "test_planets": len(test),
                  "latency_calls": pc.latency_calls, "throughput_seconds": pc.throughput_seconds}


def tracker_vs_solve_ivp(ctx: Context) -> tuple[list[list], dict]:
    from astrotrain.engine.runner import train_component
    from astrotrain.universe.evolution import DRIVERS, integrate_all
    from astrotrain.universe.generate import ensure_universe

    epochs = EVOLUTION_EPOCHS[ctx.quick]
    cfg = config("run.component=evolution", f"components.evolution.max_epochs={epochs}", "run.name=physics-evolution", output_dir=ctx.workdir)
    run = train_component(cfg, {})
    speed, test = run.metrics["baselines"], run.metrics["test"]
    universe = ensure_universe(cfg.data.universe, progress=False)
    evolution = universe.evolution()
    n = min(512, len(evolution["ok"])) if ctx.quick else len(evolution["ok"])
    drivers = {k: evolution[k][:n] for k in DRIVERS}
    solver = {"method": cfg.data.universe.evolution_method, "rtol": cfg.data.universe.evolution_rtol,
              "max_evaluations": cfg.data.universe.evolution_max_evaluations}
    batched = Spread.of([_timed(lambda: integrate_all(drivers, **solver)) / n for _ in range(ctx.repeats)])
    ode = speed["ode_ms_per_trajectory"] * 1e-3
    tracker = speed["emulator_us_per_trajectory"] * 1e-6
    accuracy = f"log pCO2 {test['rmse_log10_pco2_dex']:.3f} dex, T {test['rmse_temperature_K']:.2f} K"
    rows = [
        [f"`solve_ivp` per planet (reference, {int(speed['ode_trajectories_timed'])} test planets)", f"{ode * 1e3:.2f} ms", "1×", "0 (it is the truth)"],
        [f"`solve_ivp` vectorised (`integrate_all`, {n} planets in chunks)", f"{batched.median * 1e3:.3f} ms ({batched.low * 1e3:.3f}–{batched.high * 1e3:.3f})",
         f"{ode / batched.median:.1f}×", "same ODE (agreement: table 4)"],
        [f"evolution tracker, batch 4096 ({epochs} epochs)", f"{tracker * 1e6:.2f} µs", f"**{ode / tracker:,.0f}×**", accuracy],
        ["evolution tracker, batch 4096, 1 thread", f"{speed['emulator_us_per_trajectory_1thread']:.2f} µs", f"{speed['speedup_vs_ode_1thread']:,.0f}×", accuracy],
    ]
    return rows, {"report": speed, "test": test, "vectorised_s_per_planet": batched.median, "epochs": epochs}


def _timed(call) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def run(ctx: Context) -> Section:
    surrogate_rows, surrogate = surrogate_vs_clero(ctx)
    evolution_rows, evolution = tracker_vs_solve_ivp(ctx)
    return Section(
        "3. Surrogates vs the physics they replace",
        intro(__doc__),
        tables=[
            table(["model / backend", "batch-1 latency (p50)", "speed-up at batch 1", "planets/s at best batch", "speed-up at best batch",
                   "surface-T RMSE vs CLERO (test)"], surrogate_rows),
            table(["evolution model", "time per trajectory", "speed-up", "held-out accuracy (test)"], evolution_rows),
        ],
        notes=[f"surrogate trained {surrogate['surrogate_epochs']} epochs ({surrogate['train_s']:.0f} s with its evaluation); "
               f"RMSE over the universe's {surrogate['test_planets']} test planets; latency: p50 of "
               f"{surrogate['latency_calls']} batch-1 calls (CLERO: 50); throughput: each batch size timed for "
               f"≥ {surrogate['throughput_seconds']:g} s."],
        results={"surrogate": surrogate, "evolution": evolution},
    )
