"""A CSV logger that continues the run's metrics.csv on resume instead of deleting it."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.loggers.logger import rank_zero_experiment

from ..fsutil import atomic_write_text


class _ContinuingWriter(ExperimentWriter):
    resume_step: int | None = None
    resume_row: dict | None = None  # the checkpoint's pending row: the step it ended, logged after the save

    def _check_log_dir_exists(self) -> None:
        """Keep rows logged before the resumed checkpoint's step; drop later ones (they are redone);
        add the checkpoint's own step row when the process that wrote it died before logging it."""
        path = Path(self.metrics_file_path)
        if self.resume_step is None or not path.is_file():
            super()._check_log_dir_exists()
            return
        with open(path, newline="") as handle:
            reader = csv.DictReader(handle)
            header = list(reader.fieldnames or [])
            rows = [row for row in reader if row.get("step", "") != "" and int(row["step"]) < self.resume_step]
        pending = self.resume_row
        def has_pending(row: dict) -> bool:  # other rows of that step (learning rate, perf) do not count
            return int(row["step"]) == pending["step"] and all(row.get(k) not in (None, "") for k in pending["metrics"] if k != "epoch")

        if pending and pending["step"] < self.resume_step and not any(has_pending(r) for r in rows):
            row = {**pending["metrics"], "step": pending["step"]}
            header += [k for k in row if k not in header]
            rows.append({k: v for k, v in row.items()})
        self.metrics_keys = header
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(path, buffer.getvalue())


class ContinuingCSVLogger(CSVLogger):
    """`CSVLogger` whose metrics.csv survives a resume: one continuous per-step history."""

    def __init__(self, *args, resume_step: int | None = None, resume_row: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.resume_step = resume_step
        self.resume_row = resume_row

    @property
    @rank_zero_experiment
    def experiment(self):
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            writer_cls = type("Writer", (_ContinuingWriter,), {"resume_step": self.resume_step, "resume_row": self.resume_row})
            self._experiment = writer_cls(log_dir=self.log_dir)
        return self._experiment
