"""Data of the federation: each observatory's shard, as the features the lent encoders make of it.

Planets, splits and held-out planets are fusion's (its data module on the fusion run's config),
so the federated and the central model are scored on the same test planets. Training planets go
to the observatories by host star (`observatories.assign_planets`), validation planets the same
way (each site validates on its own sky); a planet no observatory holds is simply not observed.
Each observatory sees spectra with its own instrument (`observatories.observe`), and its gases
are what the spectral retrieval makes of *that* spectrum (the retrieval was trained on the
pipeline's instrument: a coarser or noisier site gets fewer detections, never the truth).

The encoders of the fusion model (lent by phase 1, fine-tuned in phase 2) stay frozen in the
federation, so each planet's encoder outputs are computed once (`features.<modality>`); the sites train the fusion trunk (projections,
transformer, heads) on them. One file per observatory (safetensors): a site reads its own
shard and nothing else — no raw data leaves it, only model updates do.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ...errors import UserError
from ...runs.run import open_run
from ..multimodal.data import MultimodalDataModule
from ..multimodal.load import load_fusion
from ..multimodal.pretrained import pretrained_components
from ..spectral.data import planet_spectra
from ..spectral.forward import DEFAULT_OPACITIES, OpacityTable
from ..spectral.instrument import build_instrument
from ..spectral.retrieval import gas_detections, retrieve_all
from .observatories import assign_planets, observe

SHARDS_DIR = "observatories"
FUSION_TRUNK_FILE = "fusion_trunk.safetensors"  # phase 2's trunk weights (init=fusion)
HELD_OUT_FILE = "held_out.safetensors"
TARGETS = ("state", "habitable", "biosphere", "available")


def shard_path(folder: Path, k: int) -> Path:
    return Path(folder) / SHARDS_DIR / f"{k}.safetensors"


def load_shard(path: Path) -> dict[str, dict[str, torch.Tensor]]:
    """{"train": batch, "val": batch} of one observatory (or {"test": batch} of the held-out file)."""
    from safetensors.torch import load_file

    if not Path(path).is_file():
        raise UserError(f"observatory shard {path} does not exist: run the federation's setup (python train.py --component galactic ...) first")
    out: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in load_file(str(path)).items():
        split, _, name = key.partition(":")
        out.setdefault(split, {})[name] = value
    return out


@torch.inference_mode()
def encoded(encoders: dict, batch: dict[str, torch.Tensor], chunk: int = 256) -> dict[str, torch.Tensor]:
    """`features.<modality>` `[n, dim]` of every lent encoder, plus the targets of `batch`."""
    n = len(batch["state"])
    out = {f"features.{m}": torch.cat([torch.zeros(0, e.dim)] + [e({k: v[s : s + chunk] for k, v in batch.items()}).float()
                                                                for s in range(0, n, chunk)]) for m, e in encoders.items()}
    return {**out, **{k: batch[k] for k in TARGETS}}


def site_gases(retriever, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The retrieval's detections on the spectra of `batch` (as one observatory observed them)."""
    retrieval = retrieve_all(retriever, *(batch[f"spectrum.{k}"].numpy() for k in ("depth", "sigma", "context", "r_star")))
    return torch.from_numpy(gas_detections(retrieval, retriever.detection_sigma, retriever.detection_floor))


def check_observatories(gc, spectral_cfg) -> None:
    unknown = [f"{o.name}: {o.instrument}" for o in gc.observatories if o.instrument not in spectral_cfg.instruments]
    if unknown:
        raise UserError(f"components.galactic.observatories name instruments not in components.spectral.instruments: {', '.join(unknown)} "
                        f"(known: {', '.join(sorted(spectral_cfg.instruments))})")


def build_shards(cfg, universe, folder: Path) -> dict:
    """Write every observatory's shard and the held-out set into `folder`; returns what they hold."""
    from safetensors.torch import save_file

    gc = cfg.components.galactic
    fusion = load_fusion(open_run(Path(gc.fusion)))  # its encoders as phase 2 left them (lent by phase 1, then fine-tuned)
    fcfg = fusion.cfg
    pretrained = pretrained_components(fcfg)
    datamodule = MultimodalDataModule(fcfg, universe, pretrained)
    datamodule.setup()
    encoders = dict(zip(fusion.modalities, fusion.module.model.encoders))
    trunk = {k: v.contiguous() for k, v in fusion.module.model.state_dict().items() if not k.startswith("encoders.")}
    every = datamodule.every_planet
    t_star = universe.parameters["T_star"].to_numpy()
    shards = {split: assign_planets(t_star, datamodule.indices[split], gc.observatories, cfg.run.seed) for split in ("train", "val")}
    spectral_run = pretrained["spectrum"] if "spectrum" in pretrained else (pretrained["gases"].upstream or {}).get("spectral") if "gases" in pretrained else None
    spectral = spectral_run.cfg.components.spectral if spectral_run is not None else None
    retriever = pretrained["gases"].upstream["spectral"].retriever() if "gases" in pretrained else None
    if spectral is not None:
        check_observatories(gc, spectral)
        grid = build_instrument(spectral)
        clean = planet_spectra(universe, grid, OpacityTable.from_csv(spectral.opacity_table or DEFAULT_OPACITIES))
    (folder / SHARDS_DIR).mkdir(parents=True, exist_ok=True)
    summary = []
    for k, site in enumerate(gc.observatories):
        tensors = {}
        for split in ("train", "val"):
            planets = shards[split][k]
            if split == "train" and len(planets) == 0:
                raise UserError(f"observatory {site.name} holds no training planet (host stars {site.host_star_teff_k} K, share {site.share}): "
                                "widen its host_star_teff_k or raise its share")
            batch = every[planets.tolist()]
            if spectral is not None and len(planets):
                instrument = build_instrument(spectral.model_copy(update={"instrument": site.instrument}))
                depth, sigma = observe(clean[planets], grid.wavelength, spectral.instruments[spectral.instrument].resolution, instrument,
                                       np.random.default_rng([cfg.run.seed, 0x5173, k]))
                batch["spectrum.depth"], batch["spectrum.sigma"] = torch.from_numpy(depth).float(), torch.from_numpy(sigma).float()
                if retriever is not None:
                    batch["gases.observed"] = site_gases(retriever, batch).float()
            tensors.update({f"{split}:{name}": v.contiguous() for name, v in encoded(encoders, batch).items()})
            tensors[f"{split}:planet"] = torch.from_numpy(planets)
        save_file(tensors, str(shard_path(folder, k)))
        summary.append({"name": site.name, "instrument": site.instrument, "host_star_teff_k": list(site.host_star_teff_k),
                        "train_planets": len(shards["train"][k]), "val_planets": len(shards["val"][k])})
    save_file(trunk, str(folder / FUSION_TRUNK_FILE))
    test = datamodule.indices["test"]
    held_out = {f"test:{name}": v.contiguous() for name, v in encoded(encoders, every[test.tolist()]).items()}
    save_file({**held_out, "test:planet": torch.from_numpy(test)}, str(folder / HELD_OUT_FILE))
    return {"observatories": summary, "modalities": list(encoders), "held_out_planets": len(test),
            "feature_dims": {m: int(e.dim) for m, e in encoders.items()}, "fusion_config": fcfg}
