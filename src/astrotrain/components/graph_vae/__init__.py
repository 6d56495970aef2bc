"""The graph_vae component (issue #5): a molecular graph VAE with valence-masked decoding.

`python train.py --component graph_vae` trains on the enumerated space of small molecules
(≤ 6 heavy atoms of C, N, O, S, P; `space.py`) or on a SMILES file (`--data.smiles PATH`), and
reports validity with and without the mask, uniqueness, novelty and reconstruction.
"""
