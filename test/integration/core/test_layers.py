# SPDX-License-Identifier: Apache-2.0
"""The layering check (test/check_layers.py) passes on the tree and catches what it must."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
CHECK = REPO / "test" / "check_layers.py"


def _check(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(CHECK), str(root)], capture_output=True, text=True, timeout=60)


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_the_launcher_tree_is_layered() -> None:
    result = _check(REPO / "launcher")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no include goes up" in result.stdout


def test_an_include_of_a_higher_subsystem_is_caught(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "pipeline/a.cpp": '#include "pipeline/b.hpp"\n#include "capture/c.hpp"\n',
        "pipeline/b.hpp": "#pragma once\n",
        "capture/c.hpp": '#pragma once\n#include "pipeline/b.hpp"\n',
    })
    result = _check(root)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"{root}/pipeline/a.cpp:2: pipeline includes capture/c.hpp (capture is not below pipeline)"]


def test_python_h_below_pyapi_and_equal_ranks_are_caught(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "export/x.cpp": "#include <Python.h>\n",
        "tools/t.cpp": '#include "runtime/r.hpp"\n',
        "runtime/r.hpp": "#pragma once\n",
        "capture/ok.cpp": "#include <Python.h>\n",
        "attic/z.cpp": "",
    })
    result = _check(root)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert any("attic" in line and "not a known subsystem" in line for line in lines)
    assert any(line.endswith("export must not include Python.h") for line in lines)
    assert any("tools includes runtime/r.hpp" in line for line in lines)
    assert not any("capture/ok.cpp" in line for line in lines)


def test_the_loader_stands_apart(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "loader/main.cpp": '#include "loader/locate.hpp"\n#include "pipeline/p.hpp"\n',
        "loader/locate.hpp": "#pragma once\n",
        "pipeline/p.hpp": "#pragma once\n",
        "cli/c.cpp": '#include "loader/locate.hpp"\n',
        "core_main.cpp": '#include "loader/locate.hpp"\n',
    })
    result = _check(root)
    assert result.returncode == 1
    assert sorted(result.stdout.splitlines()) == [
        f"{root}/cli/c.cpp:1: cli includes loader/locate.hpp (loader stands apart)",
        f"{root}/loader/main.cpp:2: loader includes pipeline/p.hpp (loader stands apart)",
    ]
