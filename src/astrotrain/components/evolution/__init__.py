"""The evolution component (issue #6): a sequence model emulating carbonate-silicate evolution.

`python train.py --component evolution` learns to forecast a planet's trajectory (pCO2, T, pO2
and the carbon reservoirs to 4.5 Gyr) from its initial state (or a longer given start) and its
box-model drivers;
the trajectories come from `astrotrain.universe.evolution` (solve_ivp). Metrics: log pCO2 RMSE
(dex), T RMSE (K), carbon-conservation residual, and speed against the ODE.
"""
