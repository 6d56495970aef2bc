"""The datacube component (issue #4): a physics-constrained 3D U-Net over climate datacubes.

`python train.py --component datacube [--physics-constraints]` reconstructs T, q, cloud fraction,
u and v on the model levels from surface T, ASR and OLR maps plus the planet parameters, on the
CLERO universe or on GCM output ingested with `astrotrain data ingest` (`components.datacube.datacubes`).
"""
