# SPDX-License-Identifier: Apache-2.0
"""python_import events: what was imported, from where, its SHA-256, the
distribution that owns it and whether RECORD agrees."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import textwrap
from pathlib import Path

import pytest
from conftest import (
    Sandbox,
    attrs,
    check_stream,
    make_venv,
    named,
    private_env,
    read_spool,
    run,
    venv_site_packages,
)

KIND_OF_LOADER = {
    "SourceFileLoader": "source",
    "SourcelessFileLoader": "bytecode",
    "ExtensionFileLoader": "extension",
    "BuiltinImporter": "builtin",
    "FrozenImporter": "frozen",
    "NamespaceLoader": "namespace",
}

# Runs under bluepython: imports mcp, then reports what Python itself knows
# about every loaded module and every installed distribution.
MCP_APP = """\
import json, sys
import mcp, mcp.types  # noqa: F401
import importlib.metadata as md
modules = {}
for name, mod in list(sys.modules.items()):
    spec = getattr(mod, "__spec__", None)
    if spec is None or spec.name != name:
        continue  # a module that put another in its place (3.13's collections.abc)
    loader = spec.loader
    cls = loader.__name__ if isinstance(loader, type) else type(loader).__name__
    modules[name] = {"loader": cls, "origin": spec.origin}
files = {}
for dist in md.distributions():
    for f in dist.files or []:
        files[str(f.locate())] = {
            "name": dist.metadata["Name"],
            "version": dist.version,
            "record": f.hash.value if f.hash and f.hash.mode == "sha256" else None,
        }
print(json.dumps({"modules": modules, "files": files}))
"""


def sha256_hex(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def record_b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def b64_to_hex(value: str) -> str:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).hex()


def imports_by_name(events: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for ev in named(events, "python_import"):
        out.setdefault(attrs(ev)["fullname"], []).append(attrs(ev))
    return out


@pytest.fixture(scope="module")
def mcp_run(
    tmp_path_factory: pytest.TempPathFactory, ref_python: str, bluepython: str, test_venv: Path
) -> dict:
    """`import mcp` under a venv's bluepython whose site sees build/test-venv's packages."""
    root = tmp_path_factory.mktemp("mcp")
    venv = make_venv(ref_python, root / "env")
    (venv_site_packages(venv) / "test_venv.pth").write_text(str(venv_site_packages(test_venv)) + "\n")
    exe = venv / "bin" / "bluepython"
    exe.symlink_to(bluepython)
    res = run([str(exe), "-c", MCP_APP], env=private_env(root), cwd=root)
    assert res.returncode == 0, res.stderr.decode()[-3000:]
    assert res.stderr == b""
    truth = json.loads(res.stdout)
    events = read_spool(root / "spool")
    return {
        "events": events,
        "modules": truth["modules"],
        "files": {os.path.realpath(k): v for k, v in truth["files"].items()},
        "site": str(venv_site_packages(test_venv)),
    }


def test_mcp_import_event(mcp_run: dict) -> None:
    check_stream(mcp_run["events"])
    by_name = imports_by_name(mcp_run["events"])
    (ev,) = by_name["mcp"]
    assert ev["kind"] == "source"
    assert ev["file"] == mcp_run["modules"]["mcp"]["origin"]
    assert ev["file"].startswith(mcp_run["site"])
    assert ev["sha256"] == sha256_hex(ev["file"])
    assert ev["pkg"] == "mcp"
    owner = mcp_run["files"][os.path.realpath(ev["file"])]
    assert ev["version"] == owner["version"]
    assert ev["record_match"] is True
    assert ev["hash_changed"] is False
    assert "phase" not in ev
    assert by_name["mcp.types"][0]["pkg"] == "mcp"


def test_every_import_event_matches_python(mcp_run: dict) -> None:
    by_name = imports_by_name(mcp_run["events"])
    modules = mcp_run["modules"]
    checked_third_party = 0
    kinds = set()
    for fullname, evs in by_name.items():
        for ev in evs:
            truth = modules.get(fullname)
            if truth is None:
                continue  # imported and gone again (or replaced in sys.modules)
            kind = KIND_OF_LOADER.get(truth["loader"])
            if kind is None:
                continue  # a custom loader of some package
            kinds.add(kind)
            assert ev["kind"] == kind, (fullname, ev, truth)
            if kind in ("source", "bytecode", "extension"):
                assert ev["file"] == truth["origin"], fullname
                assert ev["sha256"] == sha256_hex(ev["file"]), fullname
                assert ev["size"] == os.path.getsize(ev["file"])
                owner = mcp_run["files"].get(os.path.realpath(ev["file"]))
                if owner is None:
                    assert ev["pkg"] is None, (fullname, ev)
                    assert ev["record_match"] is None
                    continue
                checked_third_party += 1
                assert ev["pkg"] == owner["name"], fullname
                assert ev["version"] == owner["version"], fullname
                if owner["record"] is None:
                    assert ev["record_match"] is None, fullname
                else:
                    assert ev["record_match"] == (b64_to_hex(owner["record"]) == ev["sha256"]), fullname
            else:
                assert ev["file"] is None and ev["sha256"] is None, fullname
                assert ev["pkg"] is None and ev["record_match"] is None
    assert checked_third_party > 50
    assert {"source", "extension", "builtin", "frozen"} <= kinds


def test_extension_module_of_a_distribution(mcp_run: dict) -> None:
    by_name = imports_by_name(mcp_run["events"])
    (ev,) = by_name["pydantic_core._pydantic_core"]
    assert ev["kind"] == "extension"
    assert ev["pkg"] == "pydantic_core"
    assert ev["record_match"] is True
    assert ev["sha256"] == sha256_hex(ev["file"])


def test_imports_are_reported_once_per_module(mcp_run: dict) -> None:
    by_name = imports_by_name(mcp_run["events"])
    twice = {name: len(evs) for name, evs in by_name.items() if len(evs) > 1}
    assert twice == {}


# ---------------------------------------------------------------------------
# A site directory made by hand


def _make_dist(
    site: Path,
    name: str,
    version: str,
    files: dict[str, str],
    *,
    tamper: set[str] = frozenset(),
    no_hash: set[str] = frozenset(),
) -> None:
    record_lines = []
    for rel, text in files.items():
        path = site / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        data = textwrap.dedent(text).encode()
        path.write_bytes(data)
        if rel in no_hash:
            record_lines.append(f"{rel},,")
            continue
        digest = record_b64(b"something else" if rel in tamper else data)
        record_lines.append(f"{rel},sha256={digest},{len(data)}")
    info = site / f"{name}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    record_lines.append(f"{info.name}/METADATA,,")
    record_lines.append(f"{info.name}/RECORD,,")
    (info / "RECORD").write_text("\n".join(record_lines) + "\n")


@pytest.fixture
def site(sandbox: Sandbox) -> Path:
    site = sandbox.root / "site"
    site.mkdir()
    _make_dist(site, "goodpkg", "1.0", {"goodpkg/__init__.py": "X = 1\n", "goodpkg/sub.py": "Y = 2\n"})
    _make_dist(
        site,
        "Bad_Pkg",
        "2.0.post1",
        {"badpkg/__init__.py": "X = 1\n", "badpkg/mod.py": "Z = 3\n"},
        tamper={"badpkg/mod.py"},
        no_hash={"badpkg/__init__.py"},
    )
    _make_dist(site, "single", "0.1", {"single_mod.py": "S = 1\n"})
    (site / "nspkg" / "inner").mkdir(parents=True)
    (site / "nspkg" / "inner" / "leaf.py").write_text("L = 1\n")
    sandbox.env["PYTHONPATH"] = str(site)  # the test's choice, never bluepython's
    return site


SITE_APP = "import goodpkg.sub, badpkg.mod, single_mod, nspkg.inner.leaf, json\n"


def test_record_match_and_mismatch(sandbox: Sandbox, site: Path) -> None:
    res = sandbox.bp("-c", SITE_APP)
    assert res.returncode == 0, res.stderr
    events = sandbox.events()
    check_stream(events)
    by_name = imports_by_name(events)

    for fullname, rel, pkg, version in [
        ("goodpkg", "goodpkg/__init__.py", "goodpkg", "1.0"),
        ("goodpkg.sub", "goodpkg/sub.py", "goodpkg", "1.0"),
        ("single_mod", "single_mod.py", "single", "0.1"),
    ]:
        (ev,) = by_name[fullname]
        assert ev["file"] == str(site / rel)
        assert (ev["pkg"], ev["version"], ev["record_match"]) == (pkg, version, True), fullname
        assert ev["sha256"] == sha256_hex(site / rel)

    (bad,) = by_name["badpkg.mod"]
    assert bad["pkg"] == "Bad_Pkg" and bad["version"] == "2.0.post1"
    assert bad["record_match"] is False
    assert bad["record_sha256"] == hashlib.sha256(b"something else").hexdigest()
    assert bad["sha256"] == sha256_hex(site / "badpkg/mod.py")

    (unhashed,) = by_name["badpkg"]
    assert unhashed["pkg"] == "Bad_Pkg" and unhashed["record_match"] is None

    for ns in ("nspkg", "nspkg.inner"):
        (ev,) = by_name[ns]
        assert ev["kind"] == "namespace" and ev["file"] is None and ev["sha256"] is None
    (leaf,) = by_name["nspkg.inner.leaf"]
    assert leaf["kind"] == "source" and leaf["pkg"] is None and leaf["record_match"] is None


def test_import_monitor_does_not_change_results(sandbox: Sandbox, site: Path) -> None:
    prog = (
        "import sys, importlib.util\n"
        "import goodpkg.sub, nspkg.inner.leaf\n"
        "print(goodpkg.sub.__file__, list(nspkg.__path__), importlib.util.find_spec('single_mod').origin)\n"
        "try:\n"
        "    import does_not_exist_xyz\n"
        "except ModuleNotFoundError as e:\n"
        "    print(repr(e), e.name)\n"
        "import goodpkg.nope\n"
    )
    py = sandbox.py("-c", prog)
    bp = sandbox.bp("-c", prog)
    assert (bp.returncode, bp.stdout, bp.stderr) == (py.returncode, py.stdout, py.stderr)
    assert py.returncode == 1


def _run_app(sandbox: Sandbox) -> dict:
    res = sandbox.bp("-c", "import appmod")
    assert res.returncode == 0, res.stderr
    events = [e for f in sandbox.files() for e in f.events]
    newest = max(sandbox.files(), key=lambda f: (f.start_ms, f.pid)).events
    (ev,) = imports_by_name(newest)["appmod"]
    assert events
    for f in sandbox.files():
        f.path.unlink()  # keep the baseline, drop the events
    return ev


def test_hash_changed_between_runs(sandbox: Sandbox) -> None:
    app = sandbox.write("appmod.py", "VALUE = 1\n")
    first = _run_app(sandbox)
    assert first["hash_changed"] is False
    assert first["sha256"] == sha256_hex(app)

    same = _run_app(sandbox)
    assert same["hash_changed"] is False and same["sha256"] == first["sha256"]

    app.write_text("VALUE = 2\n")
    second = _run_app(sandbox)
    assert second["hash_changed"] is True
    assert second["sha256"] == sha256_hex(app) != first["sha256"]

    third = _run_app(sandbox)
    assert third["hash_changed"] is False


def test_hash_changed_when_size_and_mtime_are_kept(sandbox: Sandbox) -> None:
    """A same-size edit with the old mtime put back is still noticed."""
    app = sandbox.write("appmod.py", "VALUE = 1\n")
    st = app.stat()
    first = _run_app(sandbox)
    app.write_text("VALUE = 9\n")
    os.utime(app, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert app.stat().st_size == st.st_size and app.stat().st_mtime_ns == st.st_mtime_ns
    second = _run_app(sandbox)
    assert second["sha256"] == sha256_hex(app) != first["sha256"]
    assert second["hash_changed"] is True


def test_hash_changed_after_replacing_the_file(sandbox: Sandbox) -> None:
    app = sandbox.write("appmod.py", "VALUE = 1\n")
    first = _run_app(sandbox)
    tmp = sandbox.cwd / "appmod.py.new"
    tmp.write_text("VALUE = 3\n")
    tmp.replace(app)
    second = _run_app(sandbox)
    assert second["hash_changed"] is True and second["sha256"] != first["sha256"]


def test_builtin_and_frozen_modules(sandbox: Sandbox) -> None:
    prog = (
        "import sys, json, _imp\n"
        "fresh = [m for m in sorted(sys.builtin_module_names) if m not in sys.modules]\n"
        "import importlib\n"
        "mod = importlib.import_module(fresh[0])\n"
        "import __hello__\n"
        "print(json.dumps(fresh[0]))\n"
    )
    res = sandbox.bp("-c", prog)
    assert res.returncode == 0, res.stderr
    fresh = json.loads(res.stdout.splitlines()[-1])
    by_name = imports_by_name(sandbox.events())
    for fullname in ("sys", "_imp", fresh):
        (ev,) = by_name[fullname]
        assert ev["kind"] == "builtin", fullname
        assert ev["file"] is None and ev["sha256"] is None and ev["pkg"] is None
    assert by_name["sys"][0]["phase"] == "startup"
    assert "phase" not in by_name[fresh][0]
    (hello,) = by_name["__hello__"]
    assert hello["kind"] == "frozen" and hello["file"] is None and hello["sha256"] is None
    frozen_startup = [n for n, evs in by_name.items() if evs[0]["kind"] == "frozen" and evs[0].get("phase")]
    assert "zipimport" in frozen_startup or "codecs" in frozen_startup


def test_disable_imports(sandbox: Sandbox, site: Path) -> None:
    res = sandbox.bp("run", "--disable", "imports", "--", "-c", SITE_APP)
    assert res.returncode == 0, res.stderr
    events = sandbox.events()
    check_stream(events)
    assert named(events, "python_import") == []


def test_stdlib_off_keeps_third_party(sandbox: Sandbox, site: Path) -> None:
    cfg = sandbox.root / "cfg.json"
    cfg.write_text(json.dumps({"imports": {"stdlib": False}}))
    res = sandbox.bp("run", "--config", str(cfg), "--", "-c", SITE_APP + "import csv, email.utils\n")
    assert res.returncode == 0, res.stderr
    events = sandbox.events()
    check_stream(events)
    by_name = imports_by_name(events)
    for stdlib in ("json", "csv", "email", "email.utils", "sys", "os", "encodings"):
        assert stdlib not in by_name, stdlib
    assert {"goodpkg", "goodpkg.sub", "badpkg.mod", "single_mod"} <= set(by_name)


def test_fileslist_off_reports_one_event_per_distribution(sandbox: Sandbox, site: Path) -> None:
    cfg = sandbox.root / "cfg.json"
    cfg.write_text(json.dumps({"imports": {"enable": True, "fileslist": False}}))
    res = sandbox.bp("run", "--config", str(cfg), "--", "-c", SITE_APP)
    assert res.returncode == 0, res.stderr
    events = sandbox.events()
    check_stream(events)
    by_pkg: dict[str, int] = {}
    for ev in named(events, "python_import"):
        pkg = attrs(ev)["pkg"]
        if pkg is not None:
            by_pkg[pkg] = by_pkg.get(pkg, 0) + 1
    # (the reference python's own site-packages may add a few, e.g. setuptools' .pth hook)
    assert {k: by_pkg.get(k) for k in ("goodpkg", "Bad_Pkg", "single")} == {
        "goodpkg": 1,
        "Bad_Pkg": 1,
        "single": 1,
    }
    assert set(by_pkg.values()) == {1}
    assert attrs(events[-1])["filtered"] >= 2
    # Modules of no distribution are all still reported.
    assert "nspkg.inner.leaf" in imports_by_name(events)


def test_hash_off(sandbox: Sandbox, site: Path) -> None:
    cfg = sandbox.root / "cfg.json"
    cfg.write_text(json.dumps({"imports": {"hash": False}}))
    res = sandbox.bp("run", "--config", str(cfg), "--", "-c", SITE_APP)
    assert res.returncode == 0, res.stderr
    (ev,) = imports_by_name(sandbox.events())["goodpkg.sub"]
    assert ev["sha256"] is None and ev["pkg"] == "goodpkg" and ev["record_match"] is None
