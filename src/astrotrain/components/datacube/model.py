"""A 3D U-Net over climate datacubes `[B, C, (T), L, H, W]`, conditioned on planet parameters.

* Inputs: 2D maps (surface T, ASR, OLR) broadcast over the L model levels, plus two coordinate
  channels: the level's normalised pressure coordinate and sin(latitude); longitude gets no
  channel, so the network stays equivariant to longitude rolls.
* The per-voxel readout sees the last features h and h·sin(latitude). Forcing that is symmetric
  about the equator drives a meridional wind v that is antisymmetric (CLERO's v is exactly so);
  features learned mostly for the symmetric fields (T, q, cloud, u) give v only through h·sinφ.
* Convolutions are (2+1)D over (level, lat, lon) (`PeriodicConv3d`); longitude is periodic, so
  it is padded circularly, latitude by replication (the poles), levels with zeros. Pooling halves lat and
  lon only (10 levels are too few to pool), so a roll in longitude by a multiple of
  2**depth cells commutes with the network.
* Any regular lat-lon grid: a grid whose sides are not multiples of 2**depth (46 × 72 with pole points,
  90 × 144, a 64 × 128 Gaussian grid …) is padded before the network and its output cropped back
  (`pad_grid`): periodically in longitude, and across each pole by the mirrored rows rotated by half
  the longitudes — the cell beyond a pole is the one 180° away on the other side (without repeating a
  pole row where the grid has one). Loss and metrics see only the real cells.
* FiLM (Perez et al. 2018): each block's features are scaled and shifted by a linear map of the
  planet's normalised parameters and the global means of the input maps. GroupNorm removes each
  sample's mean, so without the map means the network could not tell a uniformly warmer planet
  from a colder one where the parameters are missing (ingested GCM cubes).
* A column-local linear path adds, per output field and level, a learned linear map of the input
  maps at the same pixel (a learned lapse rate: "copy the surface upward", generalised); the
  U-Net learns what that misses.
* An optional time axis is folded into the batch: the model is applied per time step.

Pure torch; the output layer's physics (q >= 0, cloud in [0, 1]) is applied by the module.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

ENCODING_GRID = (2, 4)  # (lat, lon) cells of the pooled encoding lent to fusion


def pad_grid(x: torch.Tensor, multiple: int, poles_on_grid: bool = False) -> tuple[torch.Tensor, tuple[int, int, int]]:
    """`x` [..., H, W] (latitude south → north) padded to multiples of `multiple`: longitude periodically
    at its end, latitude across the poles (module docstring). Returns (padded, (first real row, H, W))."""
    h, w = x.shape[-2:]
    pad_h, pad_w = (-h) % multiple, (-w) % multiple
    south = pad_h // 2
    if pad_h:  # across the poles first, rotating by half the real longitudes
        north, skip = pad_h - south, 1 if poles_on_grid else 0  # a pole row is its own mirror image
        if h - skip < max(south, north):
            raise ValueError(f"a grid of {h} latitudes is too small to pad by {pad_h} rows")
        beyond_south = x[..., skip : skip + south, :].flip(-2).roll(w // 2, dims=-1)
        beyond_north = x[..., h - skip - north : h - skip, :].flip(-2).roll(w // 2, dims=-1)
        x = torch.cat([beyond_south, x, beyond_north], dim=-2)
    if pad_w:
        x = torch.cat([x, x[..., :pad_w]], dim=-1)
    return x, (south, h, w)


def crop_grid(x: torch.Tensor, where: tuple[int, int, int]) -> torch.Tensor:
    first, h, w = where
    return x[..., first : first + h, :w]


class PeriodicConv3d(nn.Module):
    """A (2+1)D convolution over (level, lat, lon) (Tran et al. 2018): 3×3 over the horizontal at
    each level, then 3 over the levels. Same receptive field as 3×3×3, 12 instead of 27 weights per
    channel pair, and CPU-friendly 2D kernels. Circular padding in longitude, replicate in
    latitude (the poles), zero in level."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.horizontal = nn.Conv2d(c_in, c_out, kernel_size=3, padding=0)
        # the level convolution as a 2D one over (level, lat·lon): CPU backends have fast 2D kernels
        self.vertical = nn.Conv2d(c_out, c_out, kernel_size=(3, 1), padding=(1, 0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, n_levels, h, w = x.shape
        flat = x.transpose(1, 2).reshape(b * n_levels, c, h, w)
        # the halo as slices and a concatenation rather than F.pad's circular/replicate modes: the same values,
        # and TorchInductor (trainer.compile) can lay them out in any memory format (its replication_pad2d
        # backward cannot take a channels-last gradient)
        flat = torch.cat([flat[..., -1:], flat, flat[..., :1]], dim=-1)  # longitude: periodic
        flat = torch.cat([flat[..., :1, :], flat, flat[..., -1:, :]], dim=-2)  # latitude: the pole rows repeated
        flat = self.horizontal(flat)
        y = flat.reshape(b, n_levels, -1, h * w).transpose(1, 2)
        return self.vertical(y).reshape(b, -1, n_levels, h, w)


class FiLMBlock(nn.Module):
    """Two periodic convolutions with GroupNorm and GELU; FiLM after the first."""

    def __init__(self, c_in: int, c_out: int, n_cond: int):
        super().__init__()
        self.conv1, self.conv2 = PeriodicConv3d(c_in, c_out), PeriodicConv3d(c_out, c_out)
        self.norm1, self.norm2 = nn.GroupNorm(min(4, c_out), c_out), nn.GroupNorm(min(4, c_out), c_out)
        self.film = nn.Linear(n_cond, 2 * c_out)
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.film(cond).chunk(2, dim=-1)
        h = self.norm1(self.conv1(x))
        h = F.gelu(h * (1 + gamma[:, :, None, None, None]) + beta[:, :, None, None, None])
        return F.gelu(self.norm2(self.conv2(h)))


class DatacubeUNet(nn.Module):
    def __init__(self, c_in: int, c_out: int, n_levels: int, n_params: int = 8, width: int = 8, depth: int = 2, poles_on_grid: bool = False):
        super().__init__()
        self.poles_on_grid = poles_on_grid
        self.column = nn.Parameter(torch.zeros(c_out, n_levels, c_in))  # [field, level, input map]
        self.depth = depth
        n_params = n_params + c_in  # FiLM input: the parameters and the maps' global means
        widths = [width * 2**i for i in range(depth + 1)]
        self.down = nn.ModuleList(FiLMBlock(c, w, n_params) for c, w in zip([c_in + 2, *widths[:-1]], widths))
        self.up = nn.ModuleList(FiLMBlock(widths[i + 1] + widths[i], widths[i], n_params) for i in reversed(range(depth)))
        self.head = nn.Linear(2 * widths[0], c_out)  # per-voxel readout of [h, h·sinφ], zero at start: the caller's baseline
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, maps: torch.Tensor, params: torch.Tensor, levels: torch.Tensor, sin_lat: torch.Tensor | None = None) -> torch.Tensor:
        """`maps` [B, C, (T,) H, W] normalised 2D inputs; `params` [B, P]; `levels` [L] coordinate in [0, 1];
        `sin_lat` [H] (default: a uniform grid from south to north pole).

        Returns [B, C_out, (T,) L, H, W] (the raw output; physics is applied by the caller).
        """
        timed = maps.dim() == 5
        if timed:
            b, c, t, h, w = maps.shape
            maps = maps.transpose(1, 2).reshape(b * t, c, h, w)
            params = params.repeat_interleave(t, dim=0)
        params = torch.cat([params, maps.mean(dim=(-2, -1))], dim=1)  # the map means of the real cells
        if sin_lat is None:
            sin_lat = default_sin_latitude(maps.shape[-2], maps.dtype, maps.device)
        grid = maps
        maps, where = pad_grid(maps, 2**self.depth, self.poles_on_grid)
        sin_lat = pad_grid(sin_lat.view(-1, 1), 2**self.depth, self.poles_on_grid)[0][:, 0]
        x, lat_channel = self._network_input(maps, levels, sin_lat)
        x, skips = self._down(x, params)
        for block in self.up:
            x = F.interpolate(x, scale_factor=(1, 2, 2), mode="nearest")
            x = block(torch.cat([x, skips.pop()], dim=1), params)
        x = torch.cat([x, x * lat_channel.to(x.dtype)], dim=1)
        out = crop_grid(self.head(x.movedim(1, -1)).movedim(-1, 1), where) + torch.einsum("bchw,flc->bflhw", grid, self.column)
        if timed:
            out = out.reshape(b, t, *out.shape[1:]).transpose(1, 2)
        return out

    def encode(self, maps: torch.Tensor, params: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
        """The contracting path's deepest features averaged over levels and over a 2 × 4 grid of
        (latitude, longitude) cells — pole/equator and substellar/terminator/antistellar contrasts
        survive, which is what separates eyeball, waterbelt and temperate climates:
        `[B, width · 2**depth · 8]` (the encoder lent to fusion; maps [B, C, H, W] normalised as in training)."""
        params = torch.cat([params, maps.mean(dim=(-2, -1))], dim=1)
        sin_lat = default_sin_latitude(maps.shape[-2], maps.dtype, maps.device)
        maps, _ = pad_grid(maps, 2**self.depth, self.poles_on_grid)
        sin_lat = pad_grid(sin_lat.view(-1, 1), 2**self.depth, self.poles_on_grid)[0][:, 0]
        x, _ = self._network_input(maps, levels, sin_lat)
        return F.adaptive_avg_pool2d(self._down(x, params)[0].mean(dim=2), ENCODING_GRID).flatten(1)

    def _network_input(self, maps, levels, sin_lat):
        """(input voxels [B, C + 2, L, H, W], sin-latitude channel) of padded maps."""
        n_levels = levels.shape[0]
        cube = maps[:, :, None].expand(-1, -1, n_levels, -1, -1)
        b_all, h, w = cube.shape[0], cube.shape[-2], cube.shape[-1]
        level_channel = levels.view(1, 1, n_levels, 1, 1).expand(b_all, 1, -1, h, w)
        lat_channel = sin_lat.view(1, 1, 1, h, 1).expand(b_all, 1, n_levels, -1, w)
        return torch.cat([cube, level_channel.to(cube.dtype), lat_channel.to(cube.dtype)], dim=1), lat_channel

    def _down(self, x, params):
        """The contracting path: (bottleneck features, skip connections)."""
        skips = []
        for i, block in enumerate(self.down):
            x = block(x, params)
            if i < self.depth:
                skips.append(x)
                x = F.avg_pool3d(x, kernel_size=(1, 2, 2))
        return x, skips


def default_sin_latitude(n_lat: int, dtype=torch.float32, device=None) -> torch.Tensor:
    """sin(latitude) of `n_lat` equally spaced cell centres from the south to the north pole."""
    return torch.sin(torch.linspace(-torch.pi / 2, torch.pi / 2, n_lat + 2, dtype=dtype, device=device)[1:-1])
