"""Fusion's parts on their own: modality dropout, the alignment loss, the freeze schedule, the gas set encoder."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from astrotrain.components.multimodal.config import MultimodalConfig
from astrotrain.components.multimodal.model import FusionTransformer, alignment_loss
from astrotrain.components.multimodal.module import MultimodalModule


class LinearEncoder(nn.Module):
    """A lent encoder in the shape fusion expects: `pretrained` weights, `dim`, forward(batch)."""

    def __init__(self, key: str, n_in: int, dim: int = 8):
        super().__init__()
        self.key, self.dim = key, dim
        self.pretrained = nn.Linear(n_in, dim)

    def forward(self, batch):
        return self.pretrained(batch[self.key])


def tiny_module(**settings) -> MultimodalModule:
    cfg = MultimodalConfig(d_model=16, n_heads=2, n_layers=1, **settings)
    return MultimodalModule(cfg, {"a": LinearEncoder("a.x", 3), "b": LinearEncoder("b.x", 5), "c": LinearEncoder("c.x", 2)})


def test_modality_dropout_hides_at_the_configured_rate_never_shows_what_is_missing_and_keeps_one():
    torch.manual_seed(0)
    module = tiny_module(modality_dropout=0.5)
    available = torch.rand(20000, 3) > 0.2
    available[:, 0] |= ~available.any(dim=1)  # every planet has at least one modality
    shown = module.shown_modalities(available)
    assert not (shown & ~available).any()
    assert shown.any(dim=1).all()
    # hidden share among available modalities: 0.5, plus the rescued rows that were all hidden
    hidden = 1 - shown[available].float().mean()
    assert 0.40 < float(hidden) < 0.5


def test_alignment_loss_rewards_matching_planets_and_ignores_missing_modalities():
    torch.manual_seed(0)
    planets = nn.functional.normalize(torch.randn(32, 16), dim=-1)
    aligned = torch.stack([planets, planets, planets], dim=1)
    shuffled = torch.stack([planets, planets[torch.randperm(32)], planets[torch.randperm(32)]], dim=1)
    everything = torch.ones(32, 3, dtype=torch.bool)
    matched = alignment_loss(aligned, everything, temperature=0.1)
    assert matched < 0.05  # each planet's embedding picks itself out of 32
    assert alignment_loss(shuffled, everything, temperature=0.1) > 1.0
    # a modality nobody has contributes nothing: the loss is that of the remaining pair
    only_two = everything.clone()
    only_two[:, 2] = False
    pair = alignment_loss(shuffled[:, :2], torch.ones(32, 2, dtype=torch.bool), 0.1)
    assert alignment_loss(shuffled, only_two, 0.1) == pytest.approx(float(pair))


def test_the_lent_encoders_freeze_then_train_at_the_lower_learning_rate():
    module = tiny_module(freeze_epochs=2, encoder_lr_ratio=0.1, lr=1e-3, weight_decay=0.0)
    module.set_frozen(True)
    assert all(not p.requires_grad for p in module.pretrained_parameters())
    assert all(p.requires_grad for n, p in module.model.named_parameters() if ".pretrained." not in n)
    module.set_frozen(False)
    assert all(p.requires_grad for p in module.pretrained_parameters())
    lent = {id(p) for p in module.pretrained_parameters()}
    fusion_lr = {g["lr"] for g in module.param_groups() if not any(id(p) in lent for p in g["params"])}
    encoder_lr = {g["lr"] for g in module.param_groups() if all(id(p) in lent for p in g["params"])}
    assert fusion_lr == {1e-3} and encoder_lr == {1e-3 * 0.1}


def test_a_planet_can_be_read_from_any_subset_and_absent_modalities_are_never_encoded():
    torch.manual_seed(0)
    model = FusionTransformer({"a": LinearEncoder("a.x", 3), "b": LinearEncoder("b.x", 5)}, d_model=16, n_heads=2, n_layers=1, dropout=0.0).eval()
    x_a = torch.randn(4, 3)
    only_a = model({"a.x": x_a}, torch.tensor([[True, False]] * 4))  # no "b.x" in the batch at all
    both = model({"a.x": x_a, "b.x": torch.randn(4, 5)}, torch.tensor([[True, False]] * 4), torch.ones(4, 2, dtype=torch.bool))
    # b is encoded in the second call but masked out of attention: the answer is the same
    torch.testing.assert_close(only_a["state_logits"], both["state_logits"])
    assert only_a["state_logits"].shape == (4, 6) and ((0 < only_a["habitable_fraction"]) & (only_a["habitable_fraction"] < 1)).all()


def test_gas_identities_come_from_the_vae_encoder_and_the_rest_are_learned():
    from astrotrain.components.graph_vae.chemistry import to_tensors
    from astrotrain.components.graph_vae.encoder import OBSERVED_GASES as GASES
    from astrotrain.components.graph_vae.encoder import GasInventoryEncoder, gas_smiles
    from astrotrain.components.graph_vae.model import GraphVAE

    torch.manual_seed(0)
    vae = GraphVAE(max_atoms=4, node_dim=8, gnn_layers=1, hidden=16, latent_dim=4)
    encoder = GasInventoryEncoder(vae, max_atoms=4)
    inside = vae.encode(encoder.atoms, encoder.bonds)[0]
    identity = torch.cat([inside, encoder.outside])[encoder.order]
    for name in ("CO2", "CH4", "H2O", "O2"):
        atoms, bonds = (torch.from_numpy(a)[None] for a in to_tensors(gas_smiles()[GASES.index(name)], 4))
        torch.testing.assert_close(identity[GASES.index(name)], vae.encode(atoms, bonds)[0][0])
    assert encoder.outside.shape[0] == 2  # O3 and N2O: charged resonance forms, outside the neutral space
    observed = torch.zeros(2, len(GASES), 3)  # (detected, value, σ): nothing detected, upper limits at 1e-8
    observed[..., 1] = -8.0
    observed[1, GASES.index("O2")] = torch.tensor([1.0, -0.7, 0.2])  # the same planet with 20 % O2 detected: the embedding moves
    out = encoder({"gases.observed": observed})
    assert out.shape == (2, encoder.dim) and not torch.allclose(out[0], out[1])
