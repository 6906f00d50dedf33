# SPDX-License-Identifier: Apache-2.0
"""Hostile configuration: every documented key with every wrong type, unknown
keys, duplicate keys, out-of-range numbers, deep nesting, invalid UTF-8, and
files that are unreadable, symlinked (to a good file, dangling, in a loop) or
huge. Each bad one: one line on stderr naming the file and the key, exit 2,
nothing run, nothing written. The config keys come from docs/configuration.md,
so the documentation and the parser cannot drift apart."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, Sandbox, attrs, named

MARKER_PROG = "open('marker', 'w').write('ran')"

# OTLP keys are documented in their own table; a representative value each.
OTLP = {"endpoint": "http://127.0.0.1:9", "headers": {"x-team": "a"}, "service_name": "svc",
        "resource_attributes": {"deployment.environment": "ci"}, "timeout_ms": 1000, "logs": True,
        "traces": True, "metrics": False, "enable": False}


def documented_config() -> dict[str, Any]:
    text = (REPO / "docs" / "configuration.md").read_text()
    block = re.search(r"## Config file\s+```json\n(.*?)\n```", text, re.S)
    assert block, "docs/configuration.md lost its full config example"
    doc = json.loads(block.group(1))
    doc["otlp"] = OTLP
    return doc


def leaves(doc: dict[str, Any], prefix: str = "") -> Iterator[tuple[list[str], Any]]:
    for key, value in doc.items():
        if isinstance(value, dict) and key not in ("headers", "resource_attributes"):
            yield from leaves(value, f"{prefix}{key}.")
        yield [*prefix.split(".")[:-1], key], value


CATEGORIES = ("imports", "mcp", "process", "files", "network", "code", "otlp")


def wrong_values(path: list[str], value: Any) -> list[Any]:
    if isinstance(value, bool):
        return ["true", 1, None, [], {}]
    if isinstance(value, int):
        return [str(value), float(value) + 0.5, True, None, [], {}]
    if isinstance(value, str):
        return [1, True, None, [], {}]
    if isinstance(value, list):
        return ["*", 1, {}, [1], [None]]
    assert isinstance(value, dict)
    out: list[Any] = [[], "x", 1, None]
    if path[-1] not in CATEGORIES:  # a category may also be just true or false
        out.append(True)
    if path[-1] in ("headers", "resource_attributes"):  # objects of strings
        out.append({"k": 1})
    return out


def with_value(doc: dict[str, Any], path: list[str], value: Any) -> dict[str, Any]:
    out = json.loads(json.dumps(doc))
    node = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return out


def run_with(
    sb: Sandbox, text: str | bytes, name: str = "bad.json"
) -> tuple[subprocess.CompletedProcess, Path]:
    path = sb.root / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return sb.bp("run", "--config", str(path), "--", "-c", MARKER_PROG), path


def refusal(sb: Sandbox, res: subprocess.CompletedProcess, path: Path | str, key: str | None) -> str | None:
    """None if `res` is a proper refusal, else what is wrong with it."""
    err = res.stderr.decode(errors="replace")
    problems = []
    if res.returncode != 2:
        problems.append(f"exit {res.returncode}")
    if res.stdout:
        problems.append(f"stdout {res.stdout[:100]!r}")
    if not (err.endswith("\n") and err.count("\n") == 1):
        problems.append(f"not one line: {err[:300]!r}")
    if str(path) not in err:
        problems.append(f"file not named: {err!r}")
    if key is not None and f'"{key}"' not in err and f'"{key}.' not in err:  # the key, or a member of it
        problems.append(f"key {key} not named: {err!r}")
    if (sb.cwd / "marker").exists():
        problems.append("the program ran")
    if sb.spool.exists() and list(sb.spool.glob("*.ndjson")):
        problems.append("events were written")
    return "; ".join(problems) or None


def test_the_documented_config_is_accepted_as_it_stands(sandbox: Sandbox) -> None:
    doc = documented_config()
    doc["spool"]["dir"] = str(sandbox.spool)
    res, path = run_with(sandbox, json.dumps(doc), "good.json")
    assert res.returncode == 0, res.stderr
    assert (sandbox.cwd / "marker").read_text() == "ran"
    (start,) = named(sandbox.events(), "sensor_startup")
    assert attrs(start)["config_file"] == str(path)


def test_every_key_with_every_wrong_type_is_refused(sandbox: Sandbox) -> None:
    doc = documented_config()
    cases = [(path, bad) for path, value in leaves(doc) for bad in wrong_values(path, value)]
    assert len(cases) > 150, len(cases)  # the whole document, not a sample
    print(f"{len(cases)} wrong values over {len(list(leaves(doc)))} keys")
    failures = []
    for path, bad in cases:
        res, file = run_with(sandbox, json.dumps(with_value(doc, path, bad)))
        key = ".".join(path)
        problem = refusal(sandbox, res, file, key)
        if problem:
            failures.append(f"{key} = {json.dumps(bad)}: {problem}")
            (sandbox.cwd / "marker").unlink(missing_ok=True)
            shutil.rmtree(sandbox.spool, ignore_errors=True)
    assert not failures, "\n".join(failures[:20])


@pytest.mark.parametrize(
    ("label", "text", "key"),
    [
        ("unknown-top-key", '{"enable": true, "enabled": true}', "enabled"),
        ("unknown-otlp-key", '{"otlp": {"endpoit": "http://x"}}', "otlp.endpoit"),
        ("duplicate-key", '{"debug": true, "debug": false}', "debug"),
        ("duplicate-nested-key", '{"spool": {"dir": "/a", "dir": "/b"}}', "dir"),
        ("number-overflow", '{"queue": {"max_bytes": 1e400}}', None),
        ("integer-overflow", '{"queue": {"max_bytes": 18446744073709551616}}', "queue.max_bytes"),
        ("negative-zero-interval", '{"spool": {"flush_interval_ms": -0}}', "spool.flush_interval_ms"),
        ("nan-literal", '{"spool": {"max_file_bytes": NaN}}', None),
        ("deep-nesting", "[" * 100000, None),
        ("deep-objects", '{"a":' * 5000 + "1" + "}" * 5000, None),
        ("nul-in-path", '{"spool": {"dir": "/tmp/a\\u0000b"}}', "spool.dir"),
        ("control-chars-in-key", '{"\\u001b[2J\\n": 1}', None),
    ],
)
def test_hostile_documents_are_refused_in_one_line(
    sandbox: Sandbox, label: str, text: str, key: str | None
) -> None:
    res, path = run_with(sandbox, text)
    assert refusal(sandbox, res, path, key) is None, res.stderr


def test_invalid_utf8_is_refused(sandbox: Sandbox) -> None:
    res, path = run_with(sandbox, b'{"spool": {"dir": "/tmp/\xff\xfe"}}')
    assert refusal(sandbox, res, path, None) is None, res.stderr


def test_symlinked_config_is_followed(sandbox: Sandbox) -> None:
    target = sandbox.root / "real.json"
    target.write_text(json.dumps({"spool": {"dir": str(sandbox.spool)}, "debug": True}))
    link = sandbox.root / "link.json"
    link.symlink_to(target)
    res = sandbox.bp("run", "--config", str(link), "--", "-c", MARKER_PROG)
    assert res.returncode == 0, res.stderr
    assert (sandbox.cwd / "marker").exists()


def test_symlink_loop_is_refused(sandbox: Sandbox) -> None:
    a, b = sandbox.root / "a.json", sandbox.root / "b.json"
    a.symlink_to(b)
    b.symlink_to(a)
    res = sandbox.bp("run", "--config", str(a), "--", "-c", MARKER_PROG)
    assert refusal(sandbox, res, a, None) is None, res.stderr
    assert "symbolic links" in res.stderr.decode()


def test_huge_file_is_refused_without_reading_it(sandbox: Sandbox) -> None:
    huge = sandbox.root / "huge.json"
    with open(huge, "wb") as f:
        f.truncate(8 << 30)  # sparse: 8 GiB that would take long to read
    res = sandbox.bp("run", "--config", str(huge), "--", "-c", MARKER_PROG, timeout=20)
    assert refusal(sandbox, res, huge, None) is None, res.stderr
    assert "limit" in res.stderr.decode()


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory an unprivileged user can use (pytest's tmp dirs are 0700 root)."""
    path = Path(tempfile.mkdtemp(prefix="bluepython-unreadable-"))
    path.chmod(0o777)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def test_unreadable_file_is_refused(sandbox: Sandbox, shared_dir: Path) -> None:
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run bluepython as another user")
    config = shared_dir / "config.json"
    config.write_text("{}")
    config.chmod(0)
    env = dict(sandbox.env, HOME=str(shared_dir), BLUEPYTHON_SPOOL_DIR=str(shared_dir / "spool"))
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sandbox.bluepython]
    probe = subprocess.run([*nobody, "version"], env=env, cwd=shared_dir, capture_output=True, timeout=60,
                           check=False)
    if probe.returncode != 0:
        # e.g. a pyenv interpreter under /root (0700), which the unprivileged user cannot
        # reach (the executable refuses, naming it): not something bluepython can change
        pytest.skip(f"the unprivileged user cannot run bluepython here: {probe.stderr.decode().strip()}")
    res = subprocess.run(
        [*nobody, "run", "--config", str(config), "--", "-c", "open('/tmp/x', 'r')"],
        env=env, cwd=shared_dir, capture_output=True, timeout=60, check=False,
    )
    assert res.returncode == 2, res.stderr
    assert res.stderr.decode() == f"bluepython: config error: {config}: cannot read file: Permission denied\n"
    assert not (shared_dir / "spool").exists()
