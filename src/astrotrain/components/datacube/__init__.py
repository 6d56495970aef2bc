"""The datacube component (issue #4, in progress): physics-constrained 3D U-Net over climate datacubes.

Only `physics.py` exists so far; the component is not registered and cannot be trained yet.
"""
