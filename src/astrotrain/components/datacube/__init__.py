"""The datacube component (issue #4, in progress): physics-constrained 3D U-Net over climate datacubes.

So far: `physics.py` (constraints) and `model.py` (the U-Net), each tested; no data module,
LightningModule or registry entry yet, so the component cannot be trained.
"""
