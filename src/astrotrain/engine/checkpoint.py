"""Writing checkpoints: atomic writes with a sha256 manifest (a Lightning CheckpointIO).

Every checkpoint `X.ckpt` is written to a temporary sibling, fsynced and renamed into place, then
described by `X.ckpt.manifest.json` (sha256, size, step, the resolved config and its fingerprint);
reading and verifying them is `runs/checkpoints.py`.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from ..fsutil import atomic_write_json, staged_bytes
from ..runs.checkpoints import load_verified, manifest_info_if_any, manifest_path


def _make_checkpoint_io_class():
    from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

    class AtomicCheckpointIO(TorchCheckpointIO):
        """Lightning CheckpointIO: atomic write + sha256 manifest; verified, weights-only load."""

        def __init__(self, config: dict, fingerprint: str):
            super().__init__()
            self.config = config
            self.fingerprint = fingerprint

        def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options=None) -> None:
            import torch

            pending = checkpoint.pop("astrotrain_pending_log_row", None)  # callbacks.FlushLogsOnCheckpoint
            buffer = io.BytesIO()
            torch.save(checkpoint, buffer)
            entry = {"global_step": int(checkpoint.get("global_step", -1)), "epoch": int(checkpoint.get("epoch", -1)),
                     "config_fingerprint": self.fingerprint, "config": self.config}
            if pending is not None:
                entry["pending_log_row"] = pending
            write_checkpoint(path, buffer.getvalue(), entry)

        def load_checkpoint(self, path, map_location=None, weights_only=None) -> dict[str, Any]:
            return load_verified(path, map_location=map_location or "cpu")

        def remove_checkpoint(self, path) -> None:
            super().remove_checkpoint(path)
            manifest_path(path).unlink(missing_ok=True)

    return AtomicCheckpointIO


def make_checkpoint_io(config: dict, fingerprint: str):
    return _make_checkpoint_io_class()(config, fingerprint)


def write_checkpoint(path: str | Path, data: bytes, entry: dict) -> None:
    """Write checkpoint bytes and their manifest so that a kill at any instant leaves `path`
    loadable — as the old checkpoint or the new one, each matching the manifest.

    1. the bytes go to a temporary sibling (fsynced);
    2. the manifest is replaced by one describing the new bytes and keeping the old entry as
       `previous` (the file on disk is still the old one: it matches `previous`);
    3. the temporary file is renamed over `path` (now it matches the main entry);
    4. the manifest is rewritten without `previous`.
    """
    import hashlib

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


