"""The datacube component (issue #4, in progress): physics-constrained 3D U-Net over climate datacubes.

It trains (`python train.py --component datacube [--physics-constraints]`) and reports RMSE per
field and level, both baselines and every constraint residual; it is not tuned yet (on the
smoke preset it only just beats the training-mean baseline) and issue #4 stays open.
"""
