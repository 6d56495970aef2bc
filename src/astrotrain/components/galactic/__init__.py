"""The galactic component (issue #9): federated training of the fusion model across observatories with Flower.

`config.py` (observatories, strategy, faults), `observatories.py` (who observes which planets,
with which instrument), `data.py` (shards of frozen-encoder features, one file per site),
`model.py` (fusion's trunk, the local update, held-out metrics), `apps.py` (the Flower
ClientApp and ServerApp), `inprocess.py` (a grid that runs them in this process),
`federation.py` (phase 4 top to bottom), `report.py` (plots), `module.py` (the runner's entry).
"""
