# SPDX-License-Identifier: Apache-2.0
"""docs/deploying.md's Docker recipe, exercised without Docker: for every interpreter, a
fresh venv stands in for the image's Python; the recipe's RUN lines run in it as written
(`pip` is the venv's, and `pip install bluepython` takes the wheel from dist/), its ENV
lines set the environment, and its CMD is the server an MCP client starts over stdio.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DIST = REPO / "dist"
DOC = REPO / "docs" / "deploying.md"
TIMEOUT = 300

APP = '''\
import subprocess
import sys

from mcp.server.fastmcp import FastMCP

server = FastMCP("recipe")


@server.tool()
def stamp(path: str) -> str:
    """Has a child process write a file."""
    subprocess.run([sys.executable, "-c", f"open({path!r}, 'w').write('ok')"], check=True)
    return "stamped"


server.run("stdio")
'''


def _pythons() -> list[str]:
    out = subprocess.run(["bash", str(REPO / "packaging" / "find-pythons.sh")], capture_output=True,
                         text=True, check=True, timeout=60).stdout
    return out.split()


def _recipe() -> list[tuple[str, str]]:
    """(instruction, rest) for each line of the Dockerfile under "## In a Docker image"."""
    text = DOC.read_text()
    section = text[text.index("## In a Docker image"):]
    block = re.search(r"```dockerfile\n(.*?)```", section, re.DOTALL)
    assert block, f"no dockerfile block in {DOC}'s Docker section"
    steps = []
    for line in block.group(1).replace("\\\n", " ").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            instruction, _, rest = line.strip().partition(" ")
            steps.append((instruction.upper(), rest.strip()))
    return steps


def _mcp_pin() -> str:
    for line in (REPO / "test" / "requirements-mcp1.txt").read_text().splitlines():
        if line.startswith("mcp=="):
            return line.split(";")[0].strip()
    raise AssertionError("no mcp pin in test/requirements-mcp1.txt")


@pytest.mark.parametrize("python", _pythons())
def test_the_docker_recipe_runs_as_documented(python: str, tmp_path: Path) -> None:
    steps = _recipe()
    assert [s[0] for s in steps] == ["FROM", "RUN", "COPY", "RUN", "ENV", "CMD"], steps
    assert re.fullmatch(r"python:3\.\d+-slim", steps[0][1]), steps[0]

    image = tmp_path / "image"  # the image's Python: a fresh venv of this interpreter
    subprocess.run([python, "-m", "venv", str(image)], check=True, timeout=TIMEOUT, capture_output=True)
    app = tmp_path / "app"
    app.mkdir()
    (app / "server.py").write_text(APP)
    (app / "requirements.txt").write_text(_mcp_pin() + "\n")

    def in_image(value: str) -> str:
        return value.replace("/app/", f"{app}/").replace("/var/spool/", f"{tmp_path}/spool/")

    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("BLUEPYTHON_", "PIP_", "PYTHON")) and k != "VIRTUAL_ENV"}
    env["PATH"] = f"{image / 'bin'}:{env.get('PATH', '')}"
    command: list[str] = []
    for instruction, rest in steps[1:]:
        if instruction == "RUN":
            run_env = dict(env)
            if re.search(r"\bpip install\b.*\bbluepython\b", rest):
                # The wheel just built, never one from the index.
                run_env.update(PIP_NO_INDEX="1", PIP_FIND_LINKS=str(DIST))
            done = subprocess.run(["bash", "-c", in_image(rest)], env=run_env, capture_output=True, text=True,
                                  timeout=TIMEOUT)
            assert done.returncode == 0, (rest, done.stderr[-3000:])
        elif instruction == "ENV":
            for assignment in shlex.split(rest):
                name, _, value = assignment.partition("=")
                env[name] = in_image(value)
        elif instruction == "CMD":
            command = [in_image(arg) for arg in json.loads(rest)]
    assert command[0] == "bluepython"
    spool = Path(env["BLUEPYTHON_SPOOL_DIR"])

    # An MCP client starts the CMD as its stdio server and calls the tool.
    stamp = tmp_path / "stamp.txt"
    client = subprocess.run(
        [str(image / "bin" / "python"), str(REPO / "test" / "fixtures" / "call_tools.py"), command[0],
         json.dumps(command[1:]), json.dumps([["stamp", {"path": str(stamp)}]])],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=TIMEOUT)
    assert client.returncode == 0, client.stderr[-3000:]
    assert stamp.read_text() == "ok"

    events = [json.loads(line)["event"] for f in sorted(spool.glob("python-*.ndjson"))
              for line in f.read_text().splitlines()]
    names = {e["meta"]["name"] for e in events}
    assert {"sensor_startup", "python_mcp_server_init", "python_mcp_session_created", "python_mcp_event",
            "python_import"} <= names, names
    spawned = [e for e in events if e["meta"]["name"] == "python_process_spawn"]
    assert spawned, names
    assert all(e["context"].get("mcp", {}).get("target") == "stamp" for e in spawned), spawned
