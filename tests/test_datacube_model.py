"""The datacube U-Net: shapes with and without time, longitude periodicity, conditioning."""

from __future__ import annotations

import torch

from astrotrain.components.datacube.model import DatacubeUNet


def make(seed: int = 0) -> DatacubeUNet:
    torch.manual_seed(seed)
    model = DatacubeUNet(c_in=3, c_out=5, width=4, depth=2).double().eval()
    for block in [*model.down, *model.up]:  # FiLM starts at zero: give it weights so conditioning is tested
        torch.nn.init.normal_(block.film.weight, std=0.3)
    torch.nn.init.normal_(model.head.weight, std=0.3)  # so does the readout (zero: the baseline at start)
    return model


def test_shapes_with_and_without_a_time_axis():
    model, levels = make(), torch.linspace(0, 1, 10, dtype=torch.float64)
    maps, params = torch.randn(2, 3, 32, 64, dtype=torch.float64), torch.randn(2, 8, dtype=torch.float64)
    assert model(maps, params, levels).shape == (2, 5, 10, 32, 64)
    timed = torch.randn(2, 3, 4, 32, 64, dtype=torch.float64)
    out = model(timed, params, levels)
    assert out.shape == (2, 5, 4, 10, 32, 64)
    # each time step is the model applied to that step alone
    torch.testing.assert_close(out[:, :, 2], model(timed[:, :, 2], params, levels))


def test_a_longitude_roll_commutes_with_the_network():
    model, levels = make(), torch.linspace(0, 1, 10, dtype=torch.float64)
    maps, params = torch.randn(1, 3, 32, 64, dtype=torch.float64), torch.randn(1, 8, dtype=torch.float64)
    out = model(maps, params, levels)
    for shift in (4, 16, 36):  # multiples of 2**depth: pooling windows stay aligned
        rolled = model(torch.roll(maps, shift, dims=-1), params, levels)
        torch.testing.assert_close(rolled, torch.roll(out, shift, dims=-1), rtol=1e-9, atol=1e-9)
    # without circular padding the seam would differ: check the edge columns really see each other
    edge = maps.clone()
    edge[..., 0] += 1.0
    assert not torch.allclose(model(edge, params, levels)[..., -1], out[..., -1])


def test_parameters_condition_the_output():
    model, levels = make(), torch.linspace(0, 1, 10, dtype=torch.float64)
    maps = torch.randn(1, 3, 32, 64, dtype=torch.float64)
    a = model(maps, torch.zeros(1, 8, dtype=torch.float64), levels)
    b = model(maps, torch.ones(1, 8, dtype=torch.float64), levels)
    assert (a - b).abs().mean() > 1e-3
