"""MkDocs hook: the pages generated at build time — never hand-copied figures.

* `reference/configuration.md` from the pydantic schema (`astrotrain.config.reference.markdown`);
* `results/benchmarks.md` from BENCHMARKS.md, which `make bench` writes.
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[2]


def on_files(files, config):
    from astrotrain.config.reference import markdown

    benchmarks = (ROOT / "BENCHMARKS.md").read_text().replace("# astrotrain benchmarks", "# Benchmarks", 1)
    for uri, content in (("reference/configuration.md", markdown()), ("results/benchmarks.md", benchmarks)):
        existing = files.get_file_from_path(uri)
        if existing is not None:
            files.remove(existing)
        files.append(File.generated(config, uri, content=content))
    return files
