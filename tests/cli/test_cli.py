"""The command line: every flag parses, --help is fast and torch-free, errors exit 2 with one message."""

from __future__ import annotations

import subprocess
import sys

import pytest

from astrotrain.cli import main
from astrotrain.cli.parser import build_train_parser, flags_to_overrides
from astrotrain.errors import UserError
from tests.conftest import ROOT, SMOKE, cli_env, run_cli


def overrides_of(argv: list[str]) -> list[str]:
    return flags_to_overrides(build_train_parser().parse_args(argv))


def test_every_seed_flag_maps_to_its_config_key():
    argv = ["--mode", "component", "--component", "surrogate", "--config", "x.yaml", "--physics-constraints",
            "--distributed", "--gpus", "4", "--nodes", "2", "--mixed-precision", "--resume", "r.ckpt",
            "--seed", "7", "--no-deterministic", "--validate-only", "--force-config-change", "a.b=1"]
    args = build_train_parser().parse_args(argv)
    assert args.config == "x.yaml" and args.resume == "r.ckpt" and args.validate_only and args.force_config_change
    assert args.overrides == ["a.b=1"]
    assert flags_to_overrides(args) == [
        "run.mode=component", "run.component=surrogate", "physics.constraints=true", "run.seed=7",
        "run.deterministic=false", "trainer.precision=mixed", "trainer.strategy=ddp", "trainer.devices=4", "trainer.num_nodes=2",
    ]
    assert "run.mode=optimize" in overrides_of(["--optimize", "--trials", "50"])
    assert overrides_of(["--component", "spectral"]) == ["run.component=spectral", "run.mode=component"]  # whatever run.mode the config names
    assert build_train_parser().parse_args(["--optimize", "--trials", "50"]).trials == 50
    assert "run.deterministic=true" in overrides_of(["--deterministic"])


def test_gpus_without_distributed_is_an_error():
    with pytest.raises(UserError, match="--distributed"):
        overrides_of(["--gpus", "2"])


def test_help_is_fast_and_does_not_import_torch():
    code = (
        "import sys, time, contextlib, io\n"
        "t = time.perf_counter()\n"
        "from astrotrain.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "    try:\n"
        "        main(['train', '--help'])\n"
        "    except SystemExit:\n"
        "        pass\n"
        "dt = time.perf_counter() - t\n"
        "assert '--physics-constraints' in out.getvalue()\n"
        "print(dt, 'torch' in sys.modules, 'lightning' in sys.modules)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], env=cli_env(), capture_output=True, text=True, cwd=ROOT, check=True)
    _, torch_loaded, lightning_loaded = res.stdout.split()
    assert torch_loaded == "False" and lightning_loaded == "False"  # how fast that makes --help: BENCHMARKS.md, section 5


def test_validate_only_reports_every_error_at_once(capsys):
    code = main(["train", "--config", str(SMOKE), "--validate-only", "trainer.max_epoch=3", "run.seed=-1",
                 "components.surrogate.lr=abc", "data.split.train=0.9"])
    err = capsys.readouterr().err
    assert code == 2
    assert "4 config error(s)" in err
    assert "did you mean 'trainer.max_epochs'" in err
    assert "run.seed" in err and "components.surrogate.lr" in err and "data.split" in err


def test_validate_only_accepts_the_shipped_configs(capsys):
    for config in (ROOT / "config" / "master_training.yaml", SMOKE):
        assert main(["train", "--config", str(config), "--validate-only"]) == 0
    assert "config OK" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--component", "nonsense"], "unknown component 'nonsense'. Available: surrogate, datacube, graph_vae"),
        (["--component", "surogate"], "Did you mean 'surrogate'?"),
        (["--component", "galactic"], "components.galactic.fusion is not set"),
        (["--component", "galactic", "components.galactic.poisoned_observatory=7"], "components.galactic: Value error, poisoned_observatory=7 but there are 3 observatories"),
        (["--mode", "full", "--validate-only", "trainer.devices=2"], "--mode full runs its phases in one process"),
        (["--mode", "full", "--validate-only", "components.spectral.enabled=false"], "spectrum (components.spectral.enabled is false)"),
        (["--storage", "sqlite:///study.db"], "--storage, --study-name and --n-jobs go with --optimize"),
        (["--optimize", "--n-jobs", "0"], "--n-jobs must be at least 1"),
        (["--optimize", "hpo.metric=accuracy"], "hpo.metric='accuracy' is not a validation metric of surrogate"),
        (["--trials", "3"], "--trials goes with --optimize"),
        (["--config", "no/such.yaml"], "config file no/such.yaml not found"),
        (["--resume", "no/such.ckpt"], "--resume no/such.ckpt: no such checkpoint"),
        (["--bogus-flag"], "unrecognized arguments: --bogus-flag"),
        (["not-an-override"], "is not of the form key.path=value"),
        (["--data.smiles", "--validate-only"], "--data.smiles needs a value"),
    ],
)
def test_bad_input_exits_2_with_one_clear_message(argv, needle, capsys):
    if "--config" not in argv:
        argv = ["--config", str(SMOKE), *argv]
    assert main(["train", *argv, "--validate-only"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and needle in err
    assert "Traceback" not in err


def test_bad_yaml_names_the_line(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("run:\n  seed: [1,\n")
    assert main(["train", "--config", str(bad), "--validate-only"]) == 2
    assert f"config file {bad} is not valid YAML at line" in capsys.readouterr().err


def test_train_py_shim_exits_2_in_a_real_process(tmp_path):
    res = run_cli(["--component", "nonsense"], cwd=tmp_path)
    assert res.returncode == 2
    assert "unknown component 'nonsense'" in res.stderr
    assert not (tmp_path / "runs").exists()


def test_a_component_name_stands_for_its_section_in_flags_and_overrides(tmp_path):
    from tests.conftest import run_cli

    res = run_cli(["--validate-only", "--component", "llm", "--llm.quantization", "8bit", "surrogate.lr=-1"], cwd=tmp_path)
    assert res.returncode == 2
    assert "components.llm.quantization" in res.stderr and "components.surrogate.lr" in res.stderr
    assert run_cli(["--validate-only", "--component", "llm", "--llm.lora_r", "4"], cwd=tmp_path).returncode == 0
