# SPDX-License-Identifier: Apache-2.0
"""Serves the modules built into the bluepython executable (the MCP hooks
and their private wrapt copy) to the import system, and activates the hooks.
Run by the launcher the first time the app imports mcp or fastmcp."""

from __future__ import annotations

import marshal
import sys
from importlib.machinery import ModuleSpec
from importlib.util import spec_from_file_location

import _bluepython

_PACKAGE = "bluepython_hooks"
_VENDOR = "bluepython_hooks._vendor"


class EmbeddedImporter:
    """Meta path finder and loader for ``bluepython_hooks`` and its subpackages.
    With a development path, ``bluepython_hooks`` comes from that directory
    instead (only the vendored wrapt stays built in)."""

    def __init__(self, dev_path: str | None) -> None:
        self.dev_path = dev_path

    def find_spec(self, fullname, path=None, target=None):
        if fullname != _PACKAGE and not fullname.startswith(_PACKAGE + "."):
            return None
        if self.dev_path is not None and not (fullname == _VENDOR or fullname.startswith(_VENDOR + ".")):
            if fullname != _PACKAGE:
                return None  # found by the path finder in the package's __path__
            package_dir = f"{self.dev_path}/{_PACKAGE}"
            return spec_from_file_location(
                _PACKAGE, f"{package_dir}/__init__.py", submodule_search_locations=[package_dir]
            )
        entry = _bluepython._embedded(fullname)
        if entry is None:
            return None
        spec = ModuleSpec(fullname, self, origin="built-in (bluepython)", is_package=entry[0])
        if entry[0]:
            spec.submodule_search_locations = []
        return spec

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        entry = _bluepython._embedded(module.__spec__.name)
        if entry is None:
            name = module.__spec__.name
            raise ImportError(f"{name} is not built into bluepython", name=name)
        # Our own code objects, built into the executable (not untrusted input).
        exec(marshal.loads(entry[1]), module.__dict__)  # noqa: S102, S302


def activate(dev_path: str | None) -> None:
    """Puts the importer on sys.meta_path (after bluepython's import monitor,
    before the path finder) and activates the hooks."""
    importer = EmbeddedImporter(dev_path)
    position = 0
    for index, finder in enumerate(sys.meta_path):
        if type(finder).__name__ == "ImportMonitor":
            position = index + 1
            break
    sys.meta_path.insert(position, importer)
    import bluepython_hooks

    bluepython_hooks.activate()
