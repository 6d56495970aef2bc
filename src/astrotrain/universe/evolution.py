"""Carbonate-silicate evolution of each planet over 0-4.5 Gyr: a three-reservoir box model.

Carbon (in bar of CO2 equivalent) moves between the atmosphere-ocean C_a, crustal carbonates
C_c and the mantle C_m; the total C_a + C_c + C_m is conserved exactly by the equations:

    dC_a/dt = F_out − W          dC_c/dt = W − C_c / τ_sub          dC_m/dt = C_c / τ_sub − F_out

* outgassing declines with the planet's interior heat: F_out = k_out e^(−t/τ_out) C_m;
* silicate weathering (Walker, Hays & Kasting 1981): W = W⊕ w (f_land / 0.3) (pCO2 / p⊕)^β
  exp((T − T⊕) / T_e), β = 0.3, T_e = 13.7 K, p⊕ = 280 µbar, T⊕ = 288 K, W⊕ = 60 bar/Gyr
  (Earth's ~7 Tmol C/yr), w the planet's weatherability (lithology, runoff, soil: a free factor);
* the ocean holds `OCEAN_BUFFER` times the atmosphere's CO2: pCO2 = C_a / (1 + OCEAN_BUFFER);
* the star brightens as the Sun does (Gough 1981): S(t) = F⋆ / (1 + 0.4 (1 − t/t⊙)), t⊙ =
  4.57 Gyr, with F⋆ the planet's universe instellation, reached at t⊙ (the grid's last point,
  4.5 Gyr, sees 0.994 F⋆). Every host brightens like the Sun — a documented simplification:
  M dwarfs evolve more slowly on the main sequence (their pre-main-sequence phase is what
  biosphere.py's water-loss O2 stands for);
* surface temperature from a zero-dimensional energy balance, T = T_eq + ΔT_GH with
  T_eq = (S (1 − A) / 4σ)^(1/4), A = 0.3, and ΔT_GH = 24 K + λ ln(1 + pCO2 / 40 µbar),
  λ = 3 K / ln 2 (3 K per CO2 doubling, logarithmic forcing of Myhre et al. 1998; the 24 K
  stand for water vapour and the other gases, so that Earth's 280 µbar gives 288 K);
* O2 (bar) relaxes towards a source-set level on τ_O2 = 0.1 Gyr: dO2/dt = (s(t) O2* − O2)/τ_O2,
  with the *oxygenation switch* s(t) = logistic((t − t_ox) / 50 Myr) for oxygenic biospheres
  (a Great Oxidation Event at t_ox), s = 1 from the start for abiotic water-loss / photolysis
  O2 (built while the star is young), s = 0 otherwise; O2* is the planet's O2 today.

**Anchored to today's climate.** The trajectory must end where the planet's climate is: its
present-day pCO2 (at 4.5 Gyr) is the planet's own CO2 × P0, the value CLERO computed its climate
with. The weatherability w is the free driver solved for (`anchor_present_co2`): at the
quasi-steady present (the atmosphere-ocean relaxes in ~10⁵ yr), W(p*, T(p*)) ∝ w p*^β e^(T/T_e)
balances the outgassing, so d ln p / d ln w = −1/γ with γ = β + (dT/d ln p)/T_e, and a Newton
step ln w ← ln w + γ (ln p − ln p*) per integration converges in 2-4 passes (the outgassing moves
little with w). The carbon inventory is raised where the drawn one cannot hold the present
atmosphere-ocean carbon ((1 + OCEAN_BUFFER) p*) twice over. A planet still more than
`ANCHOR_TOLERANCE_DEX` off after the passes (w at its bound) is recorded in the manifest.

Integrated with `scipy.integrate.solve_ivp` (LSODA with the analytic Jacobian: the
atmosphere-ocean relaxes in ~10⁵ yr, 10⁴ times faster than the Gyr evolution, a stiff system;
LSODA switches to BDF where it is stiff). `integrate_all` integrates the planets together, `CHUNK`
at a time, as one stacked system whose Jacobian is block-diagonal (4×4 blocks: banded, bandwidth 3,
for LSODA; sparse for BDF/Radau): ~0.6 ms per planet against ~8 ms planet by planet. The step size
is then shared by the chunk, and so is the error test (ODEPACK's weighted norm for LSODA; for scipy's
BDF/Radau an RMS norm over the chunk, under which one planet's error may exceed rtol by up to
√(4·CHUNK) — prefer LSODA, the default, or tighten rtol for them); measured for LSODA on 300
planets of the default universe at rtol 10⁻⁶ against per-planet solves at rtol 10⁻⁹, the batched
pCO2 is off by 4·10⁻⁷ (99th percentile; per-planet solves at 10⁻⁶: 4·10⁻⁶), temperatures by
< 10⁻⁴ K. A trajectory that fails — the solver gives up, exceeds its budget of right-hand-side
evaluations, or returns non-finite values — is recorded with its reason and excluded (a failing
chunk is redone planet by planet, so each planet gets its own verdict); generation never stops.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TIME_GRID_GYR = np.linspace(0.0, 4.5, 91)  # output grid: every 50 Myr
T_SUN_GYR = 4.57
SIGMA_SB = 5.670374419e-8
ALBEDO = 0.3
BETA = 0.3
T_E = 13.7  # K
P_EARTH = 280e-6  # bar
T_EARTH = 288.0  # K
W_EARTH = 60.0  # bar CO2-eq per Gyr at f_land = 0.3
OCEAN_BUFFER = 50.0
DT_OTHER_K = 24.0
CO2_SENSITIVITY = 3.0 / np.log(2.0)  # K per e-fold of pCO2
P_CO2_KNEE = 40e-6  # bar
TAU_O2 = 0.1  # Gyr
OXYGENATION_WIDTH = 0.05  # Gyr
STATE = ("C_atmosphere_ocean", "C_carbonate", "C_mantle", "pO2")
OUTPUTS = ("pCO2", "temperature", "pO2", "C_atmosphere_ocean", "C_carbonate", "C_mantle")
OUTPUT_UNITS = {"pCO2": "bar", "temperature": "K", "pO2": "bar", "C_atmosphere_ocean": "bar", "C_carbonate": "bar", "C_mantle": "bar"}
DRIVERS = ("F_star", "C_total", "atmosphere_fraction_0", "k_outgassing", "tau_outgassing", "tau_subduction", "land_fraction",
           "weatherability", "O2_today", "t_oxygenation", "o2_mode")
O2_MODES = {"none": 0, "biotic": 1, "abiotic": 2}
CHUNK = 1024  # planets integrated together as one stacked system by integrate_all
ANCHOR_PASSES = 8  # integrations at most while solving for the weatherability
ANCHOR_TOLERANCE_DEX = 0.02  # |log10 pCO2(4.5 Gyr) − log10(CO2 P0)| counted as anchored
WEATHERABILITY_BOUNDS = (1e-4, 1e4)  # the solved factor stays within these
MAX_ANCHOR_STEP = np.log(10.0)  # one decade of weatherability per pass at most
CARBON_HEADROOM = 2.0  # C_total >= this × the present atmosphere-ocean carbon


def luminosity_factor(t_gyr):
    """L(t)/L(t⊙) of Gough (1981): 1 / (1 + 0.4 (1 − t/t⊙)) (numpy arrays or torch tensors)."""
    return 1.0 / (1.0 + 0.4 * (1.0 - t_gyr / T_SUN_GYR))


def surface_temperature(instellation, pco2, xp=np):
    """Energy-balance surface temperature [K] for instellation [W/m²] and pCO2 [bar]; `xp` = numpy or torch."""
    t_eq = (instellation * (1.0 - ALBEDO) / (4.0 * SIGMA_SB)) ** 0.25
    return t_eq + DT_OTHER_K + CO2_SENSITIVITY * xp.log1p(pco2 / P_CO2_KNEE)


def weathering(pco2, temperature, land_fraction, weatherability=1.0) -> np.ndarray:
    """Silicate weathering [bar/Gyr] of Walker, Hays & Kasting (1981)."""
    return W_EARTH * weatherability * (land_fraction / 0.3) * (np.maximum(pco2, 0.0) / P_EARTH) ** BETA * np.exp((temperature - T_EARTH) / T_E)


def draw_drivers(f_star, o2_today, o2_mode, seed: int) -> dict[str, np.ndarray]:
    """Per-planet box-model parameters (log-uniform where they span decades); weatherability 1
    until `anchor_present_co2` solves for it."""
    rng = np.random.default_rng([seed, 0xE701])
    n = len(f_star)

    def log_uniform(lo, hi):
        return 10.0 ** rng.uniform(np.log10(lo), np.log10(hi), n)

    return {
        "F_star": np.asarray(f_star, dtype=np.float64),
        "C_total": log_uniform(20.0, 500.0),  # bar CO2-eq (Earth's crust + mantle: ~100)
        "atmosphere_fraction_0": log_uniform(1e-3, 0.1),  # share of the carbon degassed at t = 0
        "k_outgassing": log_uniform(0.5, 5.0),  # 1/Gyr at t = 0
        "tau_outgassing": rng.uniform(1.0, 5.0, n),  # Gyr, decline of the mantle's degassing
        "tau_subduction": log_uniform(0.3, 3.0),  # Gyr, carbonate recycling into the mantle
        "land_fraction": rng.uniform(0.05, 0.6, n),  # exposed weatherable land
        "weatherability": np.ones(n),  # solved for by anchor_present_co2
        "O2_today": np.asarray(o2_today, dtype=np.float64),  # bar
        "t_oxygenation": rng.uniform(1.0, 3.5, n),  # Gyr, when an oxygenic biosphere tips the O2 balance
        "o2_mode": np.asarray(o2_mode, dtype=np.int64),
    }


@dataclass
class _Budget:
    limit: int
    used: int = 0

    def spend(self) -> None:
        self.used += 1
        if self.used > self.limit:
            raise RuntimeError(f"more than {self.limit} right-hand-side evaluations (stiff or runaway)")


def oxygenation_switch(t, d):
    """s(t): logistic((t − t_ox) / 50 Myr) for biotic O2 (as ½ (1 + tanh(x/2)), which cannot overflow),
    1 for abiotic, 0 otherwise; drivers as scalars or arrays."""
    logistic = 0.5 + 0.5 * np.tanh((t - d["t_oxygenation"]) / (2.0 * OXYGENATION_WIDTH))
    return (d["o2_mode"] == O2_MODES["biotic"]) * logistic + (d["o2_mode"] == O2_MODES["abiotic"])


def fluxes(t, c_a, d):
    """(pCO2, T, W, k) at time t for atmosphere-ocean carbon C_a, with pCO2 = C_a / (1 + OCEAN_BUFFER),
    T = surface_temperature(F⋆ L(t)/L⊙, pCO2), W = weathering(pCO2, T, f_land) and the outgassing rate
    k = k_out e^(−t/τ_out); numpy arrays of any shape, broadcast against the drivers `d`."""
    pco2 = np.maximum(c_a, 0.0) / (1.0 + OCEAN_BUFFER)
    temp = surface_temperature(d["F_star"] * luminosity_factor(t), pco2)
    return pco2, temp, weathering(pco2, temp, d["land_fraction"], d["weatherability"]), d["k_outgassing"] * np.exp(-t / d["tau_outgassing"])


def rates(t, c_a, c_c, c_m, o2, d):
    """(dC_a/dt, dC_c/dt, dC_m/dt, dO2/dt) of the module docstring's equations, element-wise."""
    _, _, w, k = fluxes(t, c_a, d)
    out_gas, subduct = k * c_m, c_c / d["tau_subduction"]
    return out_gas - w, w - subduct, subduct - out_gas, (oxygenation_switch(t, d) * d["O2_today"] - o2) / TAU_O2


def jacobian_blocks(t, c_a, d) -> np.ndarray:
    """∂(rates)/∂(C_a, C_c, C_m, O2), shape [..., 4, 4] for C_a of shape [...]. The only non-linear
    entry is dW/dC_a = W (β / pCO2 + (dT/dpCO2) / T_e) · dpCO2/dC_a, dT/dpCO2 = λ / (p_knee + pCO2)."""
    pco2, _, w, k = fluxes(t, c_a, d)
    dw = w * (BETA / np.maximum(pco2, 1e-30) + CO2_SENSITIVITY / (P_CO2_KNEE + pco2) / T_E) / (1.0 + OCEAN_BUFFER)
    inv_sub = 1.0 / d["tau_subduction"]
    jac = np.zeros(np.shape(dw) + (4, 4))
    jac[..., 0, 0], jac[..., 0, 2], jac[..., 1, 0], jac[..., 1, 1] = -dw, k, dw, -inv_sub
    jac[..., 2, 1], jac[..., 2, 2], jac[..., 3, 3] = inv_sub, -k, -1.0 / TAU_O2
    return jac


class BoxModel:
    """Right-hand side and Jacobian of one planet's box model (see the module docstring)."""

    def __init__(self, d: dict[str, float], budget: _Budget | None = None):
        self.d = {k: float(d[k]) for k in DRIVERS}  # Python floats: cheaper scalar arithmetic, same values
        self.budget = budget

    def rhs(self, t, y):
        if self.budget is not None:
            self.budget.spend()
        return np.array(rates(t, *y.tolist(), self.d), dtype=np.float64)

    def jacobian(self, t, y):
        return jacobian_blocks(t, float(y[0]), self.d)


class StackedBoxModel:
    """N planets as one system, state planet-major y = [C_a0, C_c0, C_m0, O2_0, C_a1, ...]: a
    block-diagonal Jacobian of 4×4 blocks (bandwidth 3 either side). Every stacked evaluation
    spends one evaluation of each planet's budget."""

    BAND = 3

    def __init__(self, d: dict[str, np.ndarray], budget: _Budget | None = None):
        self.d, self.budget, self.n = d, budget, len(d["F_star"])

    def rhs(self, t, y):
        if self.budget is not None:
            self.budget.spend()
        return np.stack(rates(t, *y.reshape(self.n, 4).T, self.d), axis=1).ravel()

    def banded_jacobian(self, t, y):
        """LSODA's packed band storage, jac_packed[uband + i − j, j] = J[i, j] (i, j in one 4×4 block)."""
        blocks = jacobian_blocks(t, y[0::4], self.d)
        packed = np.zeros((2 * self.BAND + 1, self.n, 4))
        for a in range(4):
            for b in range(4):
                packed[self.BAND + a - b, :, b] = blocks[:, a, b]
        return packed.reshape(2 * self.BAND + 1, 4 * self.n)

    def sparse_jacobian(self, t, y):
        """Block-diagonal Jacobian in CSC form (for BDF and Radau)."""
        from scipy.sparse import bsr_matrix

        blocks = jacobian_blocks(t, y[0::4], self.d)
        return bsr_matrix((blocks, np.arange(self.n), np.arange(self.n + 1)), shape=(4 * self.n, 4 * self.n)).tocsc()


def _initial_state(d):
    """No carbonates and no O2 at t = 0; a fraction `atmosphere_fraction_0` of the carbon degassed."""
    c_a0 = d["atmosphere_fraction_0"] * d["C_total"]
    return np.stack(np.broadcast_arrays(c_a0, 0.0, d["C_total"] - c_a0, 0.0), axis=-1).astype(np.float64)


def _outputs(y, d, grid):
    """{output: [..., time]} from states y [..., 4, time]."""
    pco2 = np.maximum(y[..., 0, :], 0.0) / (1.0 + OCEAN_BUFFER)
    temp = surface_temperature(np.asarray(d["F_star"])[..., None] * luminosity_factor(grid), pco2)
    return {"pCO2": pco2, "temperature": temp, "pO2": np.maximum(y[..., 3, :], 0.0),
            "C_atmosphere_ocean": y[..., 0, :], "C_carbonate": y[..., 1, :], "C_mantle": y[..., 2, :]}


def _solve(model, jac_options, y0, grid, method, rtol, atol):
    """solve_ivp on `grid` with floating-point traps: the states [state, time], or RuntimeError."""
    from scipy.integrate import solve_ivp

    with np.errstate(over="raise", invalid="raise"):
        try:
            sol = solve_ivp(model.rhs, (0.0, grid[-1]), y0, method=method, t_eval=grid, rtol=rtol, atol=atol, **jac_options)
        except FloatingPointError as exc:
            raise RuntimeError(f"floating-point error: {exc}") from None
    if not sol.success:
        raise RuntimeError(f"solver failed: {sol.message}")
    if not np.all(np.isfinite(sol.y)):
        raise RuntimeError("non-finite state")
    return sol.y


def integrate(drivers: dict[str, float], method: str = "LSODA", rtol: float = 1e-6, max_evaluations: int = 20000,
              steps: int | None = None) -> dict[str, np.ndarray]:
    """One planet's trajectory on TIME_GRID_GYR (its first `steps` points if given): {output: [time]}.
    Raises RuntimeError on failure. The reference for, and the fallback of, `integrate_all`."""
    model = BoxModel(drivers, _Budget(max_evaluations))
    grid = TIME_GRID_GYR[: steps or len(TIME_GRID_GYR)]
    options = {"jac": model.jacobian} if method in ("BDF", "Radau", "LSODA") else {}
    y = _solve(model, options, _initial_state(drivers), grid, method, rtol, 1e-12 * drivers["C_total"])
    return _outputs(y, drivers, grid)


def _integrate_chunk(d, method, rtol, max_evaluations) -> dict[str, np.ndarray]:
    """Planets of one chunk as one stacked system: {output: [planet, time]}; RuntimeError on failure."""
    model = StackedBoxModel(d, _Budget(max_evaluations))
    options = {"LSODA": {"jac": model.banded_jacobian, "lband": model.BAND, "uband": model.BAND},
               "BDF": {"jac": model.sparse_jacobian}, "Radau": {"jac": model.sparse_jacobian}}.get(method, {})
    atol = np.repeat(1e-12 * d["C_total"], 4)  # per component, 10⁻¹² of its planet's carbon
    y = _solve(model, options, _initial_state(d).ravel(), TIME_GRID_GYR, method, rtol, atol)
    return _outputs(y.reshape(model.n, 4, -1), d, TIME_GRID_GYR)


def integrate_all(drivers: dict[str, np.ndarray], progress=None, method: str = "LSODA", rtol: float = 1e-6,
                  max_evaluations: int = 20000, chunk: int = CHUNK) -> tuple[dict[str, np.ndarray], np.ndarray, list[dict]]:
    """All planets: ({output: [planet, time]} NaN where failed, ok mask, failure records).

    Planets are integrated `chunk` at a time as one stacked system; a chunk whose stacked solve fails
    is redone planet by planet with `integrate`, so each failing planet is recorded with its own reason.
    `progress`, if given, wraps the iteration over chunks."""
    n = len(drivers["F_star"])
    out = {name: np.full((n, len(TIME_GRID_GYR)), np.nan) for name in OUTPUTS}
    ok = np.zeros(n, dtype=bool)
    failures = []
    chunks = [slice(lo, min(lo + chunk, n)) for lo in range(0, n, chunk)]
    solver = {"method": method, "rtol": rtol, "max_evaluations": max_evaluations}
    for part in chunks if progress is None else progress(chunks):
        try:
            trajectories = _integrate_chunk({k: v[part] for k, v in drivers.items()}, **solver)
        except (RuntimeError, ValueError, np.linalg.LinAlgError):
            trajectories = None
        if trajectories is not None:
            for name in OUTPUTS:
                out[name][part] = trajectories[name]
            ok[part] = True
            continue
        for i in range(n)[part]:  # fallback: planet by planet, each with its own reason
            try:
                trajectory = integrate({k: v[i] for k, v in drivers.items()}, **solver)
            except (RuntimeError, ValueError, np.linalg.LinAlgError) as exc:
                failures.append({"planet": int(i), "reason": str(exc)})
                continue
            for name in OUTPUTS:
                out[name][i] = trajectory[name]
            ok[i] = True
    return out, ok, failures


def anchor_present_co2(drivers: dict[str, np.ndarray], present_pco2: np.ndarray, progress=None, **solver):
    """Solve each planet's weatherability so that its pCO2 at 4.5 Gyr is `present_pco2` [bar]
    (module docstring, "Anchored to today's climate"). Returns (drivers with `weatherability` and
    `C_total` set, trajectories, ok, failures, anchor record); each pass integrates only the
    planets not yet anchored."""
    d = {k: np.array(v, copy=True) for k, v in drivers.items()}
    target = np.log(np.asarray(present_pco2, dtype=np.float64))
    d["C_total"] = np.maximum(d["C_total"], CARBON_HEADROOM * (1.0 + OCEAN_BUFFER) * np.exp(target))
    lo, hi = np.log(WEATHERABILITY_BOUNDS)
    out, ok, failures = integrate_all(d, progress=progress, **solver)
    slope = np.full(len(target), np.nan)  # d(error)/d(ln w): Newton's estimate first, then the secant's
    last = (np.log(d["weatherability"]), np.log(np.maximum(out["pCO2"][:, -1], 1e-30)) - target)
    for _ in range(ANCHOR_PASSES - 1):
        log_w, error = last
        todo = np.flatnonzero(ok & (np.abs(error) > ANCHOR_TOLERANCE_DEX * np.log(10.0) / 2))
        if len(todo) == 0:
            break
        pco2 = np.exp(target[todo])
        newton = -1.0 / (BETA + CO2_SENSITIVITY * pco2 / (P_CO2_KNEE + pco2) / T_E)
        step_slope = np.where(np.isfinite(slope[todo]) & (slope[todo] < 0), slope[todo], newton)
        step = np.clip(-error[todo] / step_slope, -MAX_ANCHOR_STEP, MAX_ANCHOR_STEP)  # damped: a wild secant step stiffens the system
        new_log_w = np.clip(log_w[todo] + step, lo, hi)
        trial = {**d, "weatherability": d["weatherability"].copy()}
        trial["weatherability"][todo] = np.exp(new_log_w)
        redo, redo_ok, _ = integrate_all({k: v[todo] for k, v in trial.items()}, **solver)
        done = todo[redo_ok]  # a failed re-integration keeps its factor and stored trajectory
        new_error = np.log(np.maximum(redo["pCO2"][redo_ok, -1], 1e-30)) - target[done]
        moved = new_log_w[redo_ok] - log_w[done]
        slope[done] = np.where(np.abs(moved) > 1e-9, (new_error - error[done]) / np.where(moved == 0, 1.0, moved), np.nan)
        d["weatherability"][done] = np.exp(new_log_w[redo_ok])
        for name in OUTPUTS:
            out[name][done] = redo[name][redo_ok]
        last = (np.log(d["weatherability"]), np.log(np.maximum(out["pCO2"][:, -1], 1e-30)) - target)
    error_dex = np.abs(np.log10(np.maximum(out["pCO2"][:, -1], 1e-30)) - target / np.log(10.0))
    missed = np.flatnonzero(ok & ~(error_dex <= ANCHOR_TOLERANCE_DEX))
    record = {"tolerance_dex": ANCHOR_TOLERANCE_DEX, "anchored": int(ok.sum() - len(missed)),
              "missed": [{"planet": int(i), "error_dex": round(float(error_dex[i]), 4), "weatherability": float(d["weatherability"][i])}
                         for i in missed],
              "median_error_dex": float(np.median(error_dex[ok])) if ok.any() else None}
    return d, out, ok, failures, record
