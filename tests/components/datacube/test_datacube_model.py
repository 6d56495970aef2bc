"""The datacube U-Net: shapes with and without time, longitude periodicity, conditioning."""

from __future__ import annotations

import torch

from astrotrain.components.datacube.model import DatacubeUNet


def make(seed: int = 0) -> DatacubeUNet:
    torch.manual_seed(seed)
    model = DatacubeUNet(c_in=3, c_out=5, n_levels=10, width=4, depth=2).double().eval()
    for block in [*model.down, *model.up]:  # FiLM starts at zero: give it weights so conditioning is tested
        torch.nn.init.normal_(block.film.weight, std=0.3)
    torch.nn.init.normal_(model.head.weight, std=0.3)  # so does the readout (zero: the baseline at start)
    torch.nn.init.normal_(model.column, std=0.3)  # and the column-local linear path
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


def test_a_uniformly_warmer_planet_is_seen_without_parameters():
    """GroupNorm removes each sample's mean; the maps' global means reach FiLM, so a planet that is
    uniformly warmer (same pattern, no parameters, column path off) still gets a different output."""
    model, levels = make(), torch.linspace(0, 1, 10, dtype=torch.float64)
    torch.nn.init.zeros_(model.column)
    maps, params = torch.randn(1, 3, 32, 64, dtype=torch.float64), torch.zeros(1, 8, dtype=torch.float64)
    warmer = maps + torch.tensor([2.0, 0.0, 0.0], dtype=torch.float64)[None, :, None, None]
    assert (model(warmer, params, levels) - model(maps, params, levels)).abs().mean() > 1e-3


def test_column_path_is_a_per_level_linear_map_of_the_pixel():
    model, levels = make(), torch.linspace(0, 1, 10, dtype=torch.float64)
    for block in [*model.down, *model.up]:
        torch.nn.init.zeros_(block.film.weight)
    torch.nn.init.zeros_(model.head.weight)
    torch.nn.init.zeros_(model.head.bias)
    maps, params = torch.randn(2, 3, 32, 64, dtype=torch.float64), torch.randn(2, 8, dtype=torch.float64)
    out = model(maps, params, levels)
    # field 1, level 7, pixel (5, 9): Σ_c column[1, 7, c] · maps[:, c, 5, 9]
    torch.testing.assert_close(out[:, 1, 7, 5, 9], maps[:, :, 5, 9] @ model.column[1, 7])


def test_latitude_channel_lets_symmetric_maps_give_asymmetric_fields():
    """CLERO's maps are nearly north-south symmetric while v is antisymmetric: the sin(latitude)
    channel is what lets the network tell the hemispheres apart."""
    model, levels = make(), torch.linspace(0, 1, 10, dtype=torch.float64)
    half = torch.randn(1, 3, 16, 64, dtype=torch.float64)
    symmetric = torch.cat([half, half.flip(-2)], dim=-2)
    out = model(symmetric, torch.zeros(1, 8, dtype=torch.float64), levels)
    assert (out - out.flip(-2)).abs().mean() > 1e-3


def test_pole_aware_padding_continues_the_grid_across_each_pole():
    """46 × 72 with pole points: 2 rows are added, one beyond each pole — the row next to the pole
    on the other side of the globe (180° away in longitude); the pole row itself is not repeated."""
    from astrotrain.components.datacube.model import crop_grid, pad_grid

    lat = torch.linspace(-90, 90, 46, dtype=torch.float64)
    lon = torch.arange(72, dtype=torch.float64) * 5.0
    field = torch.sin(torch.deg2rad(lat))[:, None] + 0.1 * torch.cos(torch.deg2rad(lon))[None, :]  # smooth on the sphere
    padded, where = pad_grid(field[None, None], 4, poles_on_grid=True)
    assert padded.shape[-2:] == (48, 72) and where == (1, 46, 72)
    beyond_south, beyond_north = padded[0, 0, 0], padded[0, 0, -1]
    torch.testing.assert_close(beyond_south, torch.roll(field[1], 36))  # -86° on the opposite meridian
    torch.testing.assert_close(beyond_north, torch.roll(field[-2], 36))
    torch.testing.assert_close(crop_grid(padded, where)[0, 0], field)
    grid = torch.randn(30, 60)
    gaussian, where = pad_grid(grid[None, None], 8)  # no pole rows: the edge row itself is mirrored
    assert gaussian.shape[-2:] == (32, 64) and where == (1, 30, 60)
    torch.testing.assert_close(gaussian[0, 0, 0, :60], torch.roll(grid[0], 30))  # 180° of the real 60 longitudes
    torch.testing.assert_close(gaussian[0, 0, 1:31, 60:], grid[:, :4])  # longitude wraps periodically


def test_a_native_46_by_72_grid_trains_at_depth_2_and_only_real_cells_reach_the_output():
    torch.manual_seed(0)
    model = DatacubeUNet(c_in=3, c_out=5, n_levels=10, width=4, depth=2, poles_on_grid=True).double()
    maps, params, levels = torch.randn(2, 3, 46, 72, dtype=torch.float64), torch.randn(2, 8, dtype=torch.float64), torch.linspace(0, 1, 10, dtype=torch.float64)
    out = model(maps, params, levels)
    assert out.shape == (2, 5, 10, 46, 72)
    out.pow(2).mean().backward()  # the loss sees only the cropped cells, and every weight gets a gradient
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters() if p.requires_grad)
    assert model.encode(maps, params, levels).shape == (2, 4 * 4 * 8)
