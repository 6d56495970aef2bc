"""4. Data generation: planets/s of each stage of the universe generator, and of the whole of it.

Stages run here one after the other on the same `STAGE_PLANETS` planets, exactly as
`universe.generate` calls them (CLERO in batches of `data.universe.clero_batch_size`). The
vectorised stages are set beside their per-planet reference: the evolution box model integrated
for all planets as one block-diagonal system per chunk (`integrate_all`) vs one `solve_ivp` call
per planet (`integrate`, on the first `PER_PLANET` planets), and the transit spectra computed 256
planets per forward-model call vs one planet per call — with the agreement of the two.
End to end: `generate_universe` from nothing (sampling, CLERO, labels, terminator, atmospheres,
evolution, zarr/parquet writes, sha256 of every file) for N = 512, 2048, 8192; these universes
are the ones table 6 trains on.
"""

from __future__ import annotations

import time

import numpy as np

from .harness import Context, Section, config, intro, table

STAGE_PLANETS = (2048, 128)  # (full, quick)
PER_PLANET = (200, 32)
UNIVERSE_SIZES = ((512, 2048, 8192), (128, 256))


def universe_config(ctx: Context, n: int, keep: bool = False):
    """A universe of `n` planets in the scratch folder, or (`keep`, with --keep-universes) in a folder kept for later runs."""
    folder = ctx.universe_cache if keep and ctx.universe_cache else ctx.workdir / "universes"
    return config(f"data.universe.n_planets={n}", cache_dir=folder).data.universe


def stages(ctx: Context) -> tuple[list[list], dict]:
    import clero

    from astrotrain.components.spectral.config import SpectralConfig
    from astrotrain.components.spectral.data import planet_spectra
    from astrotrain.components.spectral.forward import OpacityTable
    from astrotrain.components.spectral.instrument import build_instrument
    from astrotrain.universe import evolution as ev
    from astrotrain.universe.biosphere import draw_atmospheres
    from astrotrain.universe.generate import _terminator
    from astrotrain.universe.labels import climate_states, habitable_fraction
    from astrotrain.universe.sampling import sample_parameters

    n, per_planet = STAGE_PLANETS[ctx.quick], PER_PLANET[ctx.quick]
    cfg = universe_config(ctx, n)
    seconds: dict[str, float] = {}

    def timed(stage: str, call):
        started = time.perf_counter()
        value = call()
        seconds[stage] = seconds.get(stage, 0.0) + time.perf_counter() - started
        return value

    params = timed("sample parameters", lambda: sample_parameters(n, cfg.seed, tuple(cfg.co2_range), tuple(cfg.ch4_range)))
    emulator = clero.Emulator()
    states, hab, terminator = [], [], []
    for start in range(0, n, cfg.clero_batch_size):
        batch = {k: v[start:start + cfg.clero_batch_size] for k, v in params.items()}
        out = timed("CLERO climate (predict)", lambda: emulator.predict(batch))
        states.append(timed("labels (state, habitable fraction)", lambda: climate_states(out, batch)))
        hab.append(timed("labels (state, habitable fraction)", lambda: habitable_fraction(out["surface_temperature"], batch["P0"])))
        terminator.append(timed("terminator state (cube → T, H2O, cloud deck)", lambda: _terminator(out, batch)))
    hab = np.concatenate(hab)
    from clero.climate_analysis import CLIMATE_STATES

    names = np.array([CLIMATE_STATES[s] for s in np.concatenate(states)])
    humidity = np.concatenate([t["specific_humidity"] for t in terminator])
    atmosphere = timed("biosphere + gas inventory", lambda: draw_atmospheres(params, hab, names, humidity, cfg.seed))
    o2_mode = np.where(atmosphere["scenario"] == "inhabited_oxygenic", ev.O2_MODES["biotic"],
                       np.where(atmosphere["x_O2"] > 0, ev.O2_MODES["abiotic"], ev.O2_MODES["none"]))
    drivers = ev.draw_drivers(params["F_star"], atmosphere["x_O2"] * params["P0"], o2_mode, cfg.seed)
    solver = {"method": cfg.evolution_method, "rtol": cfg.evolution_rtol, "max_evaluations": cfg.evolution_max_evaluations}
    vectorised, ok, _ = timed("evolution, vectorised (`integrate_all`)", lambda: ev.integrate_all(drivers, **solver))
    timed("evolution, anchored to today's CO2 (`anchor_present_co2`, the generator's path)",
          lambda: ev.anchor_present_co2(drivers, params["CO2"] * params["P0"], **solver))
    started = time.perf_counter()
    looped = {}
    for i in range(per_planet):
        try:
            looped[i] = ev.integrate({k: v[i] for k, v in drivers.items()}, **solver)["temperature"]
        except RuntimeError:  # a failed planet: recorded by integrate_all too (NaN), not compared
            pass
    loop_s = (time.perf_counter() - started) / per_planet
    planets = list(looped)
    evolution_agreement = float(np.abs(vectorised["temperature"][planets] - np.stack([looped[i] for i in planets])).max())

    universe = _universe(ctx, n)  # the same recipe generated to disk: its spectra
    spectral = SpectralConfig()
    instrument, opacities = build_instrument(spectral), OpacityTable.from_csv()
    spectra = timed("transit spectra, vectorised (256 planets per call)", lambda: planet_spectra(universe, instrument, opacities))
    started = time.perf_counter()
    single = planet_spectra(_Head(universe, per_planet), instrument, opacities, chunk=1)
    spectra_loop_s = (time.perf_counter() - started) / per_planet
    spectra_agreement = float(np.abs(single - spectra[:per_planet]).max() / np.abs(spectra[:per_planet]).max())

    rows = [[stage, f"{n / s:,.0f}", f"{s / n * 1e3:.3f} ms", ""] for stage, s in seconds.items()]
    for i, row in enumerate(rows):
        if row[0].startswith("evolution"):
            row[3] = f"**{loop_s / (seconds[row[0]] / n):.1f}×** the per-planet loop ({1 / loop_s:,.0f} planets/s); max |ΔT| {evolution_agreement:.1e} K"
        if row[0].startswith("transit"):
            s = seconds[row[0]]
            row[3] = f"**{spectra_loop_s / (s / n):.1f}×** one planet per call ({1 / spectra_loop_s:,.0f} planets/s); max rel. Δ {spectra_agreement:.1e}"
    return rows, {"planets": n, "seconds": seconds, "evolution_loop_s_per_planet": loop_s, "spectra_loop_s_per_planet": spectra_loop_s,
                  "evolution_max_abs_dT_K": evolution_agreement, "spectra_max_rel_diff": spectra_agreement, "evolution_ok": int(ok.sum())}


class _Head:
    """The first `n` planets of a universe (what `planet_spectra` reads of it)."""

    def __init__(self, universe, n: int):
        self.atmosphere, self.parameters = universe.atmosphere.iloc[:n], universe.parameters.iloc[:n]


def _universe(ctx: Context, n: int):
    from astrotrain.universe.generate import ensure_universe

    return ensure_universe(universe_config(ctx, n), progress=False)


def end_to_end(ctx: Context) -> tuple[list[list], dict]:
    from astrotrain.universe.generate import generate_universe, universe_path

    rows, results = [], {}
    for n in UNIVERSE_SIZES[ctx.quick]:
        cfg = universe_config(ctx, n)
        path = universe_path(cfg)
        if path.exists():
            import shutil

            shutil.rmtree(path)  # a previous run's: timed from nothing
        started = time.perf_counter()
        generate_universe(cfg, path, progress=False)
        seconds = time.perf_counter() - started
        size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
        rows.append([n, f"{seconds:.1f} s", f"{n / seconds:,.0f}", f"{size / 2**20:,.0f} MiB"])
        results[n] = {"seconds": seconds, "bytes": size}
    return rows, results


def run(ctx: Context) -> Section:
    e2e_rows, e2e = end_to_end(ctx)
    stage_rows, stage_results = stages(ctx)  # its spectra read the universe of its size generated above
    n = stage_results["planets"]
    return Section(
        "4. Data generation",
        intro(__doc__),
        tables=[table([f"stage ({n} planets)", "planets/s", "time per planet", "vectorised vs per-planet reference"], stage_rows),
                table(["universe N", "generate from nothing", "planets/s", "on disk"], e2e_rows)],
        notes=["CLERO dominates: it is the physics every other stage derives from; it is called in batches (its own vectorisation)."],
        results={"stages": stage_results, "end_to_end": e2e},
    )
