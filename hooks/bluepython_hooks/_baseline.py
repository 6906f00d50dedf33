# SPDX-License-Identifier: Apache-2.0
"""The tool-definition baseline: ``python_mcp_tool_changed`` (the "rug pull"
signal). Each ``tools/list`` result is checked against the definitions seen
before for the same server and side, in this process or (from
``mcp-tools.json`` in the state directory beside the spool) in the previous run.
Earlier releases kept that file in the spool directory itself: it is read from there
when the state directory has none, and removed once saved at its new place."""

from __future__ import annotations

import contextlib
import json
import os
import threading
from typing import Any

import _bluepython

from ._emit import CLIENT, SERVER, emit, internal_error

_TOOLS_FILE = "mcp-tools.json"
_TOOLS_VERSION = 2
_SIDES = {SERVER: "server", CLIENT: "client"}
_tools_lock = threading.Lock()
# side ("server"/"client") -> server name -> tool name -> {digest, definition}. A
# server and the clients that list its tools keep separate baselines.
_tools_seen: dict[str, dict[str, dict[str, dict[str, Any]]]] | None = None
_tools_previous_run: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}
# The baseline was read from the spool directory (an earlier release's place): the next
# tools/list saves it in the state directory, dirty or not, and removes the old file.
_tools_from_legacy = False


def _legacy_tools_path() -> str | None:
    where = _bluepython.spool_location()
    if not where:
        return None
    directory = where if os.path.isdir(where) else os.path.dirname(where)
    return os.path.join(directory, _TOOLS_FILE)


def _tools_path() -> str | None:
    state = _bluepython.state_location()
    return os.path.join(state, _TOOLS_FILE) if state else None


def _load_tools() -> None:
    global _tools_seen, _tools_previous_run, _tools_from_legacy
    _tools_seen = {}
    path = _tools_path()
    if path is None:
        return
    legacy = _legacy_tools_path()
    if not os.path.exists(path) and legacy and os.path.exists(legacy):
        path = legacy
        _tools_from_legacy = True
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        if isinstance(data, dict) and data.get("version") == _TOOLS_VERSION:
            sides = [side for side in _SIDES.values() if isinstance(data.get(side), dict)]
            _tools_previous_run = {side: data[side] for side in sides}
    except FileNotFoundError:
        pass
    except Exception as exc:
        internal_error("hooks: tool baseline", exc)


def _save_tools() -> None:
    global _tools_from_legacy
    path = _tools_path()
    if path is None:
        return
    merged: dict[str, Any] = {"version": _TOOLS_VERSION}
    for side in _SIDES.values():
        servers = {server: dict(tools) for server, tools in _tools_previous_run.get(side, {}).items()}
        for server, tools in (_tools_seen or {}).get(side, {}).items():
            servers.setdefault(server, {}).update(tools)
        merged[side] = servers
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(merged, f, sort_keys=True)
        os.replace(tmp, path)
        legacy = _legacy_tools_path()
        if legacy and legacy != path:
            with contextlib.suppress(OSError):
                os.unlink(legacy)
        _tools_from_legacy = False
    except Exception as exc:
        internal_error("hooks: tool baseline", exc)
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _definition(tool: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": tool.get("name"),
        "description": tool.get("description"),
        "inputSchema": tool.get("inputSchema"),
    }


def _kept(definition: dict[str, Any]) -> dict[str, Any]:
    """The definition as the baseline file keeps it: secrets redacted, as in events
    (a default value holding an API key must not sit next to the spool)."""
    try:
        kept = json.loads(_bluepython.redacted_json(definition))
    except (ValueError, TypeError):
        return definition
    return kept if isinstance(kept, dict) else definition


def tools_listed(server_name: str | None, tools: Any, *, source: int, session_id: str | None = None) -> None:
    """Checks a ``tools/list`` result against the definitions seen before for
    the same server (in this process, else in the previous run) and emits
    ``python_mcp_tool_changed`` for each tool whose name, description or input
    schema differ."""
    try:
        import hashlib

        if not isinstance(tools, list):
            return
        with _tools_lock:
            if _tools_seen is None:
                _load_tools()
            assert _tools_seen is not None
            side = _SIDES.get(source, "server")
            server_key = str(server_name)
            seen = _tools_seen.setdefault(side, {}).setdefault(server_key, {})
            previous_run = _tools_previous_run.get(side, {}).get(server_key, {})
            changes = []
            dirty = False
            for tool in tools:
                if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
                    continue
                if side == "server":
                    # A low-level Server has no registry: a pin compares with what it lists.
                    _bluepython.note_tool_definition(
                        tool["name"], tool.get("description"), tool.get("inputSchema"), True
                    )
                definition = _definition(tool)
                digest = hashlib.sha256(
                    json.dumps(definition, sort_keys=True, separators=(",", ":")).encode()
                ).hexdigest()
                before = seen.get(tool["name"])
                seen_in = "this_process"
                if before is None:
                    before = previous_run.get(tool["name"])
                    seen_in = "previous_run"
                kept = _kept(definition) if before is None or before.get("digest") != digest else None
                if kept is not None:
                    dirty = True
                    seen[tool["name"]] = {"digest": digest, "definition": kept}
                if kept is not None and before is not None:
                    old = before.get("definition") or {}
                    fields = ("name", "description", "inputSchema")
                    # Compared as kept. A secret that changed within the same marker shows
                    # in the digest only: the fields holding a marker are the ones.
                    changed = [k for k in fields if old.get(k) != kept[k]] or [
                        k for k in fields if "[REDACTED:" in json.dumps(kept[k])]
                    changes.append((tool["name"], seen_in, old, definition, changed))
            if dirty or _tools_from_legacy:
                _save_tools()
        for name, seen_in, old, new, changed in changes:
            emit(
                "python_mcp_tool_changed",
                {
                    "server_name": server_name,
                    "tool": name,
                    "changed": changed,
                    "seen_in": seen_in,
                    "previous": old,
                    "current": new,
                    "source": source,
                    "session_id": session_id,
                },
            )
    except Exception as exc:
        internal_error("hooks: tool definitions", exc)
