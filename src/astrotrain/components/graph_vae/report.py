"""After the test: molecules sampled from the VAE's prior, drawn with RDKit (the report's gallery).

z ~ N(0, I) (seeded), valence-masked decoding, the first `N_DRAWN` distinct valid molecules,
each labelled with its canonical SMILES and whether it is novel (not in the training split).
"""

from __future__ import annotations

import torch

from ...plots import PLOTS_DIR
from . import metrics
from .model import decode_masked

N_DRAWN = 24
N_SAMPLED = 512


@torch.inference_mode()
def report(cfg, module, datamodule, run_dir) -> dict:
    from rdkit import Chem
    from rdkit.Chem import Draw

    module.eval()
    generator = torch.Generator().manual_seed(cfg.run.seed)
    z = torch.randn(N_SAMPLED, module.cfg.latent_dim, generator=generator).to(module.device)
    drawn: dict[str, Chem.Mol] = {}
    for smiles in metrics.smiles_of_graphs(*decode_masked(*module.model.decode(z))):
        if smiles and smiles not in drawn:
            drawn[smiles] = Chem.MolFromSmiles(smiles)
        if len(drawn) == N_DRAWN:
            break
    if not drawn:
        return {}
    legends = [f"{s}{'' if s in module.train_smiles else ' (novel)'}" for s in drawn]
    image = Draw.MolsToGridImage(list(drawn.values()), molsPerRow=6, subImgSize=(170, 130), legends=legends)
    path = run_dir / PLOTS_DIR / "sampled_molecules.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return {"drawn_novel_share": sum(s not in module.train_smiles for s in drawn) / len(drawn)}
