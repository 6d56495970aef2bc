"""Checkpoint files of a run: their sha256 manifests, verified weights-only loading, resume targets.

Every checkpoint `X.ckpt` is described by `X.ckpt.manifest.json` (sha256, size, step, the resolved
config and its fingerprint; the engine writes both, `engine/checkpoint.py`). Loading verifies the
sha256 first and then uses `torch.load(weights_only=True)`: a checkpoint can never run code.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..errors import UserError
from ..fsutil import atomic_write_json, staged_bytes
from ..hashing import sha256_file, sha256_json

MANIFEST_SUFFIX = ".manifest.json"


def manifest_path(ckpt: str | Path) -> Path:
    ckpt = Path(ckpt)
    return ckpt.with_name(ckpt.name + MANIFEST_SUFFIX)


def config_fingerprint(config: dict, resume_safe_keys: tuple[str, ...]) -> str:
    """sha256 of the config without the keys a resume may change."""
    return sha256_json(_without_keys(config, resume_safe_keys))


def _without_keys(config: dict, keys: tuple[str, ...]) -> dict:
    out = json.loads(json.dumps(config, default=str))
    for key in keys:
        node, parts = out, key.split(".")
        for part in parts[:-1]:
            node = node.get(part, {})
        if isinstance(node, dict):
            node.pop(parts[-1], None)
    return out


def without_new_defaults(config: dict, old: dict, defaults: dict) -> dict | None:
    """`config` without the keys `old` lacks (added to the schema since `old` was written) where each holds its
    default — what `old` would read as today; None when a new key holds another value (a real change)."""
    out = {}
    for key, value in config.items():
        if key not in old:
            if value != defaults.get(key):
                return None
            continue
        if isinstance(value, dict) and isinstance(old[key], dict):
            value = without_new_defaults(value, old[key], defaults.get(key) or {})
            if value is None:
                return None
        out[key] = value
    return out


def same_config_but_newer_schema(old: dict, old_fingerprint: str, config: dict, resume_safe_keys: tuple[str, ...], defaults: dict) -> bool:
    """Whether `config` is `old` (as fingerprinted then) plus only keys the schema gained since, at their defaults."""
    trimmed = without_new_defaults(config, old, defaults)
    return trimmed is not None and config_fingerprint(trimmed, resume_safe_keys) == old_fingerprint


def config_differences(old: dict, new: dict, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ, as 'key: old → new'."""
    diffs = []
    for key in sorted(set(old) | set(new)):
        path = f"{prefix}{key}"
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            diffs += config_differences(a, b, path + ".")
        elif a != b:
            diffs.append(f"{path}: {a!r} → {b!r}")
    return diffs


def manifest_info_if_any(path: Path) -> dict | None:
    try:
        return read_manifest(path) if path.is_file() else None
    except UserError:
        return None  # a torn previous file: nothing worth keeping


def read_manifest(ckpt: str | Path) -> dict:
    """The manifest entry of `ckpt` after checking the file exists and its sha256 matches
    (the main entry, or `previous` while a newer write was interrupted)."""
    ckpt = Path(ckpt)
    if not ckpt.is_file():
        raise UserError(f"checkpoint {ckpt} not found; pass an existing .ckpt file or run directory to --resume")
    mpath = manifest_path(ckpt)
    if not mpath.is_file():
        raise UserError(f"checkpoint {ckpt} has no manifest ({mpath.name}); it was not written by astrotrain or is incomplete "
                        "— resume from another checkpoint (--resume auto picks the newest valid one)")
    try:
        manifest = json.loads(mpath.read_text())
        expected = manifest["sha256"]
    except (json.JSONDecodeError, KeyError, TypeError):
        raise UserError(f"checkpoint manifest {mpath} is corrupt; resume from another checkpoint (--resume auto picks the newest valid one)") from None
    actual = sha256_file(ckpt)
    if actual == expected:
        return {k: v for k, v in manifest.items() if k != "previous"}
    previous = manifest.get("previous")
    if isinstance(previous, dict) and previous.get("sha256") == actual:
        return previous
    raise UserError(
        f"checkpoint {ckpt} is corrupt: sha256 {actual[:12]}… does not match its manifest ({expected[:12]}…); "
        "it was truncated or modified — resume from another checkpoint (--resume auto picks the newest valid one)"
    )


def load_verified(path: str | Path, map_location="cpu") -> dict:
    import pickle

    import torch

    read_manifest(path)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as exc:
        raise UserError(f"checkpoint {path} cannot be loaded safely (weights_only=True): {exc}") from None


def resolve_resume_target(target: str | Path) -> Path:
    """A checkpoint file, or a run directory → its checkpoints/last.ckpt."""
    target = Path(target)
    if target.is_dir():
        last = target / "checkpoints" / "last.ckpt"
        if not last.is_file():
            raise UserError(f"run directory {target} has no checkpoints/last.ckpt to resume from")
        return last
    if not target.exists():
        raise UserError(f"--resume {target}: no such checkpoint file or run directory")
    return target


def run_dir_of(ckpt: Path) -> Path:
    """The run directory a checkpoint belongs to (`<run>/checkpoints/X.ckpt`)."""
    if ckpt.parent.name != "checkpoints":
        raise UserError(f"checkpoint {ckpt} is not inside a run directory's checkpoints/ folder; cannot resume its run")
    return ckpt.parent.parent


def submodule_state(state: dict, prefix: str) -> dict:
    """The entries of a LightningModule's state dict under `prefix` (e.g. "model."), prefix removed."""
    return {key[len(prefix):]: value for key, value in state.items() if key.startswith(prefix)}


def newest_checkpoint(folder: Path) -> Path | None:
    """The verified checkpoint with the most steps in `folder` (a killed run may lack last.ckpt)."""
    best, best_step = None, -1
    for path in sorted(folder.glob("*.ckpt")) if folder.is_dir() else []:
        try:
            step = read_manifest(path)["global_step"]
        except UserError:
            continue  # torn or foreign file: not resumable
        if step > best_step or (step == best_step and path.name == "last.ckpt"):
            best, best_step = path, step
    return best


def write_checkpoint(path: str | Path, data: bytes, entry: dict) -> None:
    """Write checkpoint bytes and their manifest so that a kill at any instant leaves `path`
    loadable — as the old checkpoint or the new one, each matching the manifest.

    1. the bytes go to a temporary sibling (fsynced);
    2. the manifest is replaced by one describing the new bytes and keeping the old entry as
       `previous` (the file on disk is still the old one: it matches `previous`);
    3. the temporary file is renamed over `path` (now it matches the main entry);
    4. the manifest is rewritten without `previous`.
    """
    path = Path(path)
    old = manifest_info_if_any(path)
    new = {"file": path.name, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data), **entry}
    with staged_bytes(path, data) as commit:
        if old is not None:
            atomic_write_json(manifest_path(path), {**new, "previous": {k: v for k, v in old.items() if k != "previous"}})
        else:
            atomic_write_json(manifest_path(path), new)
        commit()
    atomic_write_json(manifest_path(path), new)


