"""The layer contract (`.importlinter`, docs/decisions/0007): nothing imports upward, and components
describe themselves once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def test_no_layer_imports_a_higher_one():
    from importlinter.api import read_configuration  # noqa: F401 - the contract runs through its CLI below

    beside_python = Path(sys.executable).parent / "lint-imports"  # the environment running the tests, activated or not
    res = subprocess.run([str(beside_python) if beside_python.exists() else "lint-imports",
                          "--config", str(ROOT / ".importlinter"), "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout[-4000:]
    assert "2 kept, 0 broken" in res.stdout


def test_a_broken_layer_is_caught(tmp_path):
    """The contract can fail: a copy of the package where the config imports the engine breaks it."""
    import shutil

    package = tmp_path / "src" / "astrotrain"
    shutil.copytree(ROOT / "src" / "astrotrain", package, ignore=shutil.ignore_patterns("__pycache__"))
    base = package / "config" / "base.py"
    base.write_text(base.read_text() + "\nfrom ..engine import runner  # noqa: E402,F401\n")
    res = subprocess.run([sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())",
                          "--config", str(ROOT / ".importlinter"), "--no-cache"], cwd=tmp_path, capture_output=True, text=True,
                         env={"PYTHONPATH": str(tmp_path / "src"), "PATH": "/usr/bin:/bin"})
    assert res.returncode != 0 and "astrotrain.config is not allowed to import astrotrain.engine" in res.stdout, res.stdout[-3000:] + res.stderr[-2000:]


def test_the_component_list_is_written_once_and_specs_import_no_torch():
    code = ("import sys; from astrotrain.config.registry import specs; s = specs(); "
            "print(','.join(s), 'torch' in sys.modules, 'lightning' in sys.modules)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    names, torch_loaded, lightning_loaded = res.stdout.split()
    assert names == "surrogate,datacube,graph_vae,spectral,evolution,multimodal,llm,galactic,production"
    assert (torch_loaded, lightning_loaded) == ("False", "False")
    # no other module spells out the list of components
    listing = ('"surrogate", "datacube"', "'surrogate', 'datacube'")
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "src").rglob("*.py") if any(s in p.read_text() for s in listing)]
    assert offenders == []
