"""A run that starts from another: `--init-from` (weights by name, a new optimiser) and `--resume --fork`
(the exact state, a new run directory). Both leave the parent untouched and record it in provenance.json.

    --init-from RUN_OR_CKPT   every entry of the parent's state dict whose name and shape match is
                              loaded; the others are reported and keep their fresh initialisation
                              (`init.strict`: refused instead). `init.freeze` fixes named modules;
                              `init.lr_multiplier` scales the learning rate of the loaded, unfrozen
                              weights (discriminative fine-tuning: Howard & Ruder 2018, ULMFiT).
    --resume RUN --fork       model, optimiser, schedule, loop position and RNG continue exactly, under a
                              changed config, in a new run directory (the config differences are recorded).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..components.common.schedule import LR_SCALE
from ..config.loader import read_yaml
from ..errors import UserError
from ..runs import layout as rd
from ..runs.checkpoints import config_differences, load_verified, read_manifest, resolve_resume_target

ADOPTED = "adopted from the parent"  # lineage.treatment: the data treatment (normalisation, basis) is the parent's


@dataclass
class Parent:
    """A verified parent checkpoint and what it holds."""

    checkpoint: Path
    manifest: dict
    state: dict  # the LightningModule's state dict

    def record(self) -> dict:
        return {"checkpoint": str(self.checkpoint.resolve()), "checkpoint_sha256": self.manifest["sha256"],
                "run": str(self.checkpoint.resolve().parent.parent), "global_step": self.manifest.get("global_step"),
                "component": self.manifest.get("config", {}).get("run", {}).get("component")}


@dataclass
class Start:
    """How a run's weights begin when they are not fresh (None of it for a plain new run or resume)."""

    weights: Parent | None = None  # --init-from: load these by name
    treatment_state: dict | None = None  # the state a datamodule adopts its fitted treatment from (`adopt_treatment`)
    inherited: dict | None = None  # resuming or forking an --init-from run: its frozen modules and learning rates again
    fork: dict | None = None  # --fork: the record (the weights are the checkpoint's, restored by Lightning)
    fork_state: dict | None = None  # --fork: the checkpoint's state dict, to refuse another architecture before Lightning does

    def before_module(self, datamodule) -> None:
        """A component whose datamodule computes targets with fitted statistics takes the parent's (e.g. the surrogate's
        PCA basis): always for --init-from (where grids match), and on resuming or forking a run that did."""
        adopted_before = self.inherited is None or self.inherited.get("treatment") == ADOPTED
        if self.treatment_state is not None and adopted_before and hasattr(datamodule, "adopt_treatment"):
            datamodule.adopt_treatment(self.treatment_state)

    def after_module(self, module, init_cfg, datamodule) -> dict | None:
        """The lineage record of a new run (None when resuming)."""
        self.treatment_state = None  # the parent's state is not needed past here: free it
        if self.fork_state is not None:
            check_same_architecture(module, self.fork_state, self.fork["checkpoint"])
            self.fork_state = None
        if self.weights is not None:
            record = initialise_from(module, self.weights, init_cfg, datamodule)
            self.weights = None
            return record
        if self.inherited is not None:
            reapply(module, self.inherited)
        return {**self.fork, **({"init": self.inherited} if self.inherited else {})} if self.fork else None


def plan_start(cfg, component: str, ckpt: Path | None, fork: bool, config: dict) -> Start | None:
    """Checked before anything is written: the parent of --init-from, or what a resumed or forked run inherits."""
    if ckpt is None:
        if cfg.init.checkpoint is None:
            return None
        parent = load_parent(cfg.init.checkpoint, component)
        return Start(weights=parent, treatment_state=parent.state)
    manifest = read_manifest(ckpt)
    if fork:
        check_fork_changes(manifest.get("config", {}), config)
    if fork and manifest.get("config", {}).get("init") not in (None, config["init"]):
        raise UserError("--fork continues the exact state, frozen modules and learning rates included: it cannot change init.* "
                        f"(changed: {', '.join(d.split(':')[0] for d in config_differences(manifest['config']['init'], config['init']))}); "
                        "start a new run from its weights with --init-from instead")
    inherited = init_record_of(ckpt.parent.parent)
    if inherited is None and not fork:
        return None
    state = load_verified(ckpt)["state_dict"]
    return Start(treatment_state=state if inherited else None, inherited=inherited,
                 fork=fork_record(ckpt, manifest, config) if fork else None, fork_state=state if fork else None)


RESTORED_BY_THE_CHECKPOINT = ("lr", "weight_decay", "warmup_steps", "min_lr_ratio", "encoder_lr_ratio")  # optimiser and schedule state


def check_fork_changes(old: dict, config: dict) -> None:
    """A fork restores the optimiser and its schedule: a changed learning rate or schedule would not take effect."""
    changed = [d.split(":")[0] for d in config_differences(old, config)]
    lost = [key for key in changed if key.rsplit(".", 1)[-1] in RESTORED_BY_THE_CHECKPOINT]
    if lost:
        raise UserError(f"--fork restores the optimiser and LR schedule of its checkpoint exactly, so {', '.join(lost)} would not "
                        "take effect; fork without changing them, or start a new run (a new optimiser and schedule) with --init-from")
    longer = [key for key in changed if key.endswith(("max_epochs", "max_steps"))]
    if longer:
        print(f"--fork: {', '.join(longer)} changed; the LR schedule is the checkpoint's, planned for the parent's length "
              "(steps beyond it run at its floor)")


def init_checkpoint(target: str, component: str) -> Path:
    """`--init-from` target → a checkpoint: a .ckpt file, a component run's last.ckpt, or the phase run
    of `component` inside a --mode full run."""
    path = Path(target)
    if rd.is_pipeline_run(path):
        trained_here = [folder for folder in (rd.phase_run_dir(path, phase, component) for phase in rd.PHASE_DIRS)
                        if (folder / rd.CONFIG_FILE).is_file() and read_yaml(folder / rd.CONFIG_FILE).get("run", {}).get("component") == component]
        if not trained_here:
            raise UserError(f"--init-from {target}: no phase of that --mode full run trained component {component}; "
                            "pass one of its component runs or a .ckpt file")
        path = trained_here[0]
    try:
        return resolve_resume_target(path)
    except UserError as exc:
        raise UserError(exc.message.replace("--resume", "--init-from").replace("to resume from", "to start from")) from None


def load_parent(target: str, component: str) -> Parent:
    """The verified checkpoint `--init-from` names, refused when it is another component's."""
    ckpt = init_checkpoint(target, component)
    manifest = read_manifest(ckpt)
    trained = manifest.get("config", {}).get("run", {}).get("component")
    if trained is not None and trained != component:
        raise UserError(f"--init-from {target}: its checkpoint {ckpt} is a {trained} model, this run trains {component}; "
                        f"pass a {component} run (or train --component {trained})")
    checkpoint = load_verified(ckpt)
    if "state_dict" not in checkpoint:
        raise UserError(f"--init-from {target}: {ckpt} holds no model weights to load by name (a federation's server checkpoint?); "
                        "pass a Lightning component's run or checkpoint")
    return Parent(ckpt, manifest, checkpoint["state_dict"])


def initialise_from(module, parent: Parent, init_cfg, datamodule=None) -> dict:
    """Load `parent`'s weights into `module` by name; freeze and mark learning rates. Returns the lineage record.

    Buffers the datamodule fitted itself (`fitted_buffers`, where it could not adopt the parent's treatment:
    another grid, another number of PCA modes) stay this run's: its targets were computed with them."""
    own = module.state_dict()
    adopted = getattr(datamodule, "treatment_adopted", None)
    refitted = set(getattr(datamodule, "fitted_buffers", ())) if adopted is False else set()
    fresh, skipped = [], []
    loaded = {}
    for name, value in own.items():
        theirs = parent.state.get(name)
        if name in refitted:
            fresh.append({"name": name, "shape": list(value.shape), "parent_shape": None if theirs is None else list(theirs.shape),
                          "why": "fitted on this run's training split"})
        elif theirs is None:
            fresh.append({"name": name, "shape": list(value.shape), "parent_shape": None})
        elif tuple(theirs.shape) != tuple(value.shape):
            fresh.append({"name": name, "shape": list(value.shape), "parent_shape": list(theirs.shape)})
        else:
            loaded[name] = theirs
    skipped = sorted(set(parent.state) - set(own))
    if init_cfg.strict and (fresh or skipped):
        lines = [f"  - {f['name']}: here {f['shape']}, parent {f['parent_shape'] or 'absent'}" for f in fresh[:15]]
        lines += [f"  - {name}: in the parent only" for name in skipped[:15]]
        raise UserError(f"--strict-init: {len(fresh)} weight(s) of this model do not match {parent.checkpoint} and {len(skipped)} of its "
                        "are unused:\n" + "\n".join(lines) + "\nmake the architecture keys match the parent's, or drop --strict-init "
                        "to initialise those fresh")
    module.load_state_dict(loaded, strict=False)
    frozen = freeze(module, init_cfg.freeze)
    mark_learning_rates(module, {f["name"] for f in fresh}, frozen, init_cfg.lr_multiplier)
    treatment = {True: ADOPTED, False: "fitted on this run's training split"}.get(adopted, "none fitted from data")
    return {"kind": "init_from", **parent.record(), "loaded": len(loaded), "fresh": fresh, "skipped": skipped,
            "frozen": frozen, "lr_multiplier": init_cfg.lr_multiplier, "treatment": treatment}


def check_same_architecture(module, state: dict, checkpoint: str) -> None:
    """A fork restores the exact state: the model must be the checkpoint's, name for name and shape for shape."""
    own = module.state_dict()
    differ = [f"{name}: here {list(value.shape)}, checkpoint {list(state[name].shape) if name in state else 'absent'}"
              for name, value in own.items() if name not in state or tuple(state[name].shape) != tuple(value.shape)]
    differ += [f"{name}: in the checkpoint only" for name in state if name not in own]
    if differ:
        shown = "\n".join(f"  - {d}" for d in differ[:15])
        raise UserError(f"--fork restores {checkpoint} exactly, but this config builds another model:\n{shown}\n"
                        "fork with the parent's architecture, or start a new run from its weights with --init-from")


def freeze(module, names: list[str]) -> list[str]:
    """Parameters under each named module stop training; a name that matches nothing is refused."""
    params = dict(module.named_parameters())
    frozen = []
    for prefix in names:
        matched = [n for n in params if n == prefix or n.startswith(prefix + ".")]
        if not matched:
            modules = sorted({".".join(n.split(".")[:2]) for n in params})
            raise UserError(f"init.freeze: {prefix!r} names no module of this {type(module).__name__}; its modules include: "
                            f"{', '.join(modules[:20])}")
        frozen += matched
    if len(set(frozen)) == len(params):
        raise UserError(f"init.freeze={names} freezes every parameter: nothing would train; name fewer modules")
    for name in frozen:
        params[name].requires_grad_(False)
    return sorted(set(frozen))


def mark_learning_rates(module, fresh: set[str], frozen: list[str], multiplier: float) -> None:
    """`lr_scale` on every parameter: 0 frozen, `multiplier` loaded, 1 fresh (read by the optimiser's groups)."""
    frozen_set = set(frozen)
    for name, param in module.named_parameters():
        setattr(param, LR_SCALE, 0.0 if name in frozen_set else 1.0 if name in fresh else multiplier)


def reapply(module, lineage: dict) -> None:
    """On resuming an --init-from run: the same frozen modules and learning rates (the weights come from its checkpoint)."""
    for name in lineage["frozen"]:
        dict(module.named_parameters())[name].requires_grad_(False)
    mark_learning_rates(module, {f["name"] for f in lineage["fresh"]}, lineage["frozen"], lineage["lr_multiplier"])


def fork_record(ckpt: Path, manifest: dict, config: dict) -> dict:
    """What a fork continues from, and the config keys it changed."""
    return {"kind": "fork", **Parent(ckpt, manifest, {}).record(), "config_changes": config_differences(manifest.get("config", {}), config)}


def copy_parent_log(parent_run: Path, run_dir: Path) -> None:
    """The parent's CSV log, so that the fork's curves start at step 0 (rows past the fork step are dropped on open)."""
    source = parent_run / "logs" / "csv" / "metrics.csv"
    if source.is_file():
        (run_dir / "logs" / "csv").mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, run_dir / "logs" / "csv" / "metrics.csv")


def lineage_of(run_dir: Path) -> dict | None:
    """The lineage record of a run (None: it started from fresh weights)."""
    path = Path(run_dir) / rd.PROVENANCE_FILE
    return json.loads(path.read_text()).get("lineage") if path.is_file() else None


def init_record_of(run_dir: Path) -> dict | None:
    """The --init-from record a run's weights descend from: its own, or the one its fork parent inherited."""
    lineage = lineage_of(run_dir)
    if lineage is None:
        return None
    return lineage if lineage["kind"] == "init_from" else lineage.get("init")
