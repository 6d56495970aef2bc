"""Writing checkpoints: atomic writes with a sha256 manifest (a Lightning CheckpointIO).

Every checkpoint `X.ckpt` is written to a temporary sibling, fsynced and renamed into place, then
described by `X.ckpt.manifest.json` (sha256, size, step, the resolved config and its fingerprint); writing,
reading and verifying them is `runs/checkpoints.py` (the federation's server checkpoints use it too).
"""

from __future__ import annotations

import io
from typing import Any

from ..runs.checkpoints import load_verified, manifest_path, write_checkpoint


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
