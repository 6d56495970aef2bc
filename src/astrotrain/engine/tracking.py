"""Experiment-tracking backends (`logging.backends`): CSV always; TensorBoard, Weights & Biases, MLflow when asked.

The run directory stays the source of truth; every backend gets the resolved config and the
provenance (as hyper-parameters), the per-step training metrics, and the final validation and
test metrics (what metrics.json holds). Each heavy backend is an optional extra; asking for one
that is not installed, or for an MLflow server that does not answer, is an error before anything
is written.

* TensorBoard: `<run>/logs/tensorboard/`.
* W&B: offline by default (`WANDB_MODE=offline`: never a login prompt) into `<run>/logs/wandb/`;
  upload later with `wandb sync <run>/logs/wandb/offline-run-*`. The W&B run id is derived from the
  run directory, so a resumed run continues the same W&B run.
* MLflow: `logging.mlflow_tracking_uri`, default a local store `sqlite:///<run.output_dir>/mlflow.db`
  (MLflow 3 keeps the `mlruns/` file store in maintenance mode and refuses it unless
  MLFLOW_ALLOW_FILE_STORE is set; a `file:` URI sets it). One MLflow run per astrotrain run: its id is
  kept in `<run>/logs/mlflow_run_id` and reused on resume.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path

from ..errors import UserError
from .csv_log import ContinuingCSVLogger

EXTRAS = {"tensorboard": ("tensorboard", "tensorboard"), "wandb": ("wandb", "wandb"), "mlflow": ("mlflow", "mlflow")}


def mlflow_uri(cfg) -> str:
    uri = cfg.logging.mlflow_tracking_uri
    return uri or f"sqlite:///{(Path(cfg.run.output_dir) / 'mlflow.db').resolve()}"


def check_backends(cfg) -> None:
    """Every asked-for backend importable; W&B online only when logged in; the MLflow server answering."""
    for backend in cfg.logging.backends:
        if backend in EXTRAS and importlib.util.find_spec(EXTRAS[backend][0]) is None:
            raise UserError(f"logging.backends has {backend} but its package is not installed: pip install 'astrotrain[{EXTRAS[backend][1]}]'")
    if "wandb" in cfg.logging.backends and cfg.logging.wandb_mode == "online" and not (os.environ.get("WANDB_API_KEY") or _netrc_has("api.wandb.ai")):
        raise UserError("logging.wandb_mode=online but W&B has no credentials (WANDB_API_KEY or `wandb login`); "
                        "use logging.wandb_mode=offline and `wandb sync` later")
    if "mlflow" in cfg.logging.backends:
        uri = mlflow_uri(cfg)
        if uri.startswith(("http://", "https://")):
            import requests

            try:
                requests.get(uri.rstrip("/") + "/health", timeout=5).raise_for_status()
            except requests.RequestException as exc:
                raise UserError(f"logging.mlflow_tracking_uri={uri}: the MLflow tracking server does not answer ({type(exc).__name__}); "
                                "start it (mlflow server ...), fix the URI, or leave it null for a local store") from None
        elif uri.startswith("file:"):
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")


def build_loggers(cfg, run_dir: Path, resume_step: int | None = None, resume_row: dict | None = None) -> list:
    check_backends(cfg)
    logs = run_dir / "logs"
    loggers = [ContinuingCSVLogger(save_dir=str(logs), name="csv", version="", resume_step=resume_step, resume_row=resume_row)]
    backends = cfg.logging.backends
    if "tensorboard" in backends:
        from lightning.pytorch.loggers import TensorBoardLogger

        loggers.append(TensorBoardLogger(save_dir=str(logs), name="tensorboard", version=""))
    if "wandb" in backends:
        from lightning.pytorch.loggers import WandbLogger

        os.environ.setdefault("WANDB_SILENT", "true")
        os.environ["WANDB_MODE"] = cfg.logging.wandb_mode
        run_id = hashlib.sha256(str(run_dir.resolve()).encode()).hexdigest()[:16]
        loggers.append(WandbLogger(project=cfg.logging.wandb_project, name=run_dir.name, id=run_id, resume="allow", save_dir=str(logs),
                                   offline=cfg.logging.wandb_mode == "offline"))
    if "mlflow" in backends:
        from lightning.pytorch.loggers import MLFlowLogger

        id_file = logs / "mlflow_run_id"
        logger = MLFlowLogger(experiment_name=cfg.logging.mlflow_experiment, tracking_uri=mlflow_uri(cfg), run_name=run_dir.name,
                              run_id=id_file.read_text().strip() if id_file.is_file() else None,
                              tags={"astrotrain.run_dir": str(run_dir.resolve()), "astrotrain.component": cfg.run.component})
        if not id_file.is_file() and _is_rank_zero():
            id_file.parent.mkdir(parents=True, exist_ok=True)
            id_file.write_text(logger.run_id + "\n")
        loggers.append(logger)
    return loggers


def log_run_record(loggers: list, config: dict, provenance: dict, resumed: bool = False) -> None:
    """The resolved config and the provenance, flattened to dotted keys, as every backend's hyper-parameters.
    A resumed run keeps the record of its start in W&B and MLflow (both refuse to change a logged value;
    the run directory's provenance.json lists every resume)."""
    record = {**_flatten(config), **_flatten(provenance, "provenance")}
    for logger in loggers:
        if resumed and type(logger).__name__ in ("WandbLogger", "MLFlowLogger"):
            continue
        logger.log_hyperparams(record)


def log_final_metrics(loggers: list, metrics: dict, step: int) -> None:
    """metrics.json's val/test figures under final/<split>/<name>, at the last step, to every backend; then close them."""
    values = {f"final/{split}/{k}": v for split in ("val", "test") for k, v in metrics.get(split, {}).items() if isinstance(v, (int, float))}
    for logger in loggers:
        logger.log_metrics(values, step=step)
        logger.save()
    for logger in loggers:
        if type(logger).__name__ == "WandbLogger":
            logger.experiment.finish()


def _flatten(tree, prefix: str = "") -> dict:
    out = {}
    if isinstance(tree, dict):
        for key, value in tree.items():
            out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    else:
        out[prefix] = tree if isinstance(tree, (int, float, str, bool)) or tree is None else str(tree)
    return out


def _netrc_has(host: str) -> bool:
    import netrc

    try:
        return netrc.netrc().authenticators(host) is not None
    except (FileNotFoundError, netrc.NetrcParseError):
        return False


def _is_rank_zero() -> bool:
    return int(os.environ.get("RANK", os.environ.get("SLURM_PROCID", "0"))) == 0 and int(os.environ.get("LOCAL_RANK", "0")) == 0
