"""The import contracts of docs/design.md (import-linter, ``[tool.importlinter]``) hold, and
they have teeth: a forbidden import added to a copy of the package breaks them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` on the ``sim`` package found in ``tree`` (its copy of pyproject.toml)."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "sim", tmp_path / "sim", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


@pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="import-linter is not installed")
def test_contracts_hold_and_fail_on_a_forbidden_import(copy: Path) -> None:
    clean = lint_imports(copy)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "BROKEN" not in clean.stdout
    model = copy / "sim" / "model.py"
    model.write_text(
        model.read_text(encoding="utf-8") + "\nimport matplotlib  # noqa\n", encoding="utf-8"
    )
    payloads = copy / "sim" / "loadtest" / "payloads.py"
    payloads.write_text(
        payloads.read_text(encoding="utf-8") + "\nimport sim.gateway.config  # noqa\n",
        encoding="utf-8",
    )
    broken = lint_imports(copy)
    assert broken.returncode != 0
    assert "sim.model -> matplotlib" in broken.stdout
    assert "sim.loadtest.payloads -> sim.gateway.config" in broken.stdout
    assert "The model, its measurement and the planner do no I/O" in broken.stdout
    assert "The replay talks to any gateway" in broken.stdout
