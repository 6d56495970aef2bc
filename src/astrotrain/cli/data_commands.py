"""`astrotrain data ...`: generate the universe, fetch the archive, report on quality, ingest GCM output."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import UserError


def run_data(args: argparse.Namespace) -> int:
    from ..config.loader import load_config
    from .parser import default_config_path

    cfg, _ = load_config(args.config or default_config_path(), list(args.overrides))
    handler = {"generate": _generate, "fetch": _fetch, "report": _report, "ingest": _ingest}[args.data_command]
    with _dask_progress(enabled=not args.no_progress):
        return handler(cfg, args)


def _dask_progress(enabled: bool):
    """A progress bar on every dask computation (field checks, datacube writes) of the command."""
    import contextlib

    if not enabled:
        return contextlib.nullcontext()
    from dask.diagnostics import ProgressBar

    return ProgressBar(minimum=2.0)  # only for computations longer than 2 s


def _generate(cfg, args) -> int:
    from ..universe.generate import ensure_universe, universe_path

    existed = (universe_path(cfg.data.universe) / "manifest.json").exists()
    universe = ensure_universe(cfg.data.universe, progress=not args.no_progress)
    m = universe.manifest
    print(f"{'reused' if existed else 'generated'} universe: {universe.path}")
    print(f"  planets: {m['n_planets']}  seed: {m['seed']}  clero: {m['clero_version']}  sha256: {m['sha256']}")
    print("  climate states: " + ", ".join(f"{k}={v}" for k, v in m["climate_state_counts"].items()))
    return 0


def _fetch(cfg, args) -> int:
    from ..data import nasa

    a = cfg.data.archive
    if args.from_csv:
        nasa.import_export(args.from_csv, a.cache_dir)
        return 0
    if args.no_progress:
        nasa.fetch_nasa(a.cache_dir, a.tap_url, a.timeout_s, offline=args.offline)
        return 0
    from rich.console import Console

    with Console(stderr=True).status(f"querying {a.tap_url} (pscomppars)"):
        nasa.fetch_nasa(a.cache_dir, a.tap_url, a.timeout_s, offline=args.offline)
    return 0


def _report(cfg, args) -> int:
    from ..data import quality

    if args.archive:
        from ..data.mapping import map_archive
        from ..data.nasa import read_archive_csv

        archive = read_archive_csv(args.archive)
        report = quality.archive_report(archive, map_archive(archive.frame, cfg.data.archive.default_atmosphere.model_dump()))
        out = Path(args.out or Path(cfg.data.reports_dir) / Path(args.archive).stem)
    else:
        from ..data.splits import planet_splits
        from ..universe.generate import ensure_universe

        universe = ensure_universe(cfg.data.universe, progress=not args.no_progress)
        splits = planet_splits(len(universe), cfg.data.split.train, cfg.data.split.val, cfg.data.split.seed)
        report = quality.universe_report(universe, splits)
        out = Path(args.out or Path(cfg.data.reports_dir) / universe.path.name)
    json_path, html_path = report.write(out)
    print(f"quality report: {html_path} ({json_path.name}); {report.n_records} records, {report.counts() or 'no problems'}")
    for key, value in report.summary.items():
        print(f"  {key}: {value}")
    return 0


def _refuse_foreign_folder(out: Path) -> None:
    """Only a missing folder, an empty one, or an earlier datacube may be (re)written by ingest."""
    import json

    if not out.exists() or (out.is_dir() and not any(out.iterdir())):
        return
    manifest = out / "manifest.json"
    kind = json.loads(manifest.read_text()).get("kind") if manifest.is_file() else None
    if kind != "astrotrain.gcm_datacube":
        raise UserError(f"--out {out} exists and is not an astrotrain datacube; choose a new or empty folder (nothing was changed)")


def _ingest(cfg, args) -> int:
    from ..data import gcm, quality
    from ..data.gcm_files import source_files
    from ..data.gcm_write import check_values, read_parameters, write_datacube
    from ..data.vertical import parse_target_levels

    mapping = gcm.load_mapping(args.mapping) if args.mapping else None
    levels = parse_target_levels(args.levels)
    files = source_files(args.path)
    dataset = gcm.open_gcm(files, mapping, levels, skip_years=args.skip_years, time=args.time)
    first = files[0]
    default_name = first.stem if first.suffix != ".zarr" else first.name[: -len(".zarr")]
    out = Path(args.out or Path("data/gcm") / (first.parent.name if len(files) > 1 else default_name))
    _refuse_foreign_folder(out)
    run_id = args.run_id or out.name
    parameters = read_parameters(args.parameters, run_id) if args.parameters else dataset.attrs.get("planet_parameters")
    try:
        write_datacube(dataset, out, parameters=parameters)
    except (OSError, ValueError, RuntimeError) as exc:  # read errors that only surface when the data is read
        raise UserError(f"could not read {args.path} while writing the datacube: {exc}") from None
    problems = check_values(dataset)
    model = mapping.model if mapping else dataset.attrs.get("gcm_model")
    report = quality.QualityReport(dataset=f"{model} output {args.path}", n_records=1, records=quality.value_records(problems, str(args.path)))
    report.summary = {"variables": ", ".join(dataset.data_vars), "dims": ", ".join(f"{k}={v}" for k, v in dataset.sizes.items()),
                      "files": len(files), "parameters": "given" if parameters else "none (FiLM sees only the maps)"}
    report.write(out)
    print(f"ingested {len(files)} file(s) {args.path} → {out / 'climate.zarr'} ({', '.join(dataset.data_vars)})")
    for record in report.records:
        print(f"  quality: {record.where}: {record.check}: {record.count} values ({record.detail})")
    return 0
