# SPDX-License-Identifier: Apache-2.0
"""Choosing and installing the version-specific hooks of one framework."""

from __future__ import annotations

import importlib
from typing import Any

from ._emit import internal_error, library_version
from ._patcher import Patcher, guarded


class Framework:
    """One instrumented library: its distribution name and, per major
    version, the module of hooks for it (``v1``, ``v2``, ...). Each such
    module has ``install(patcher, when_imported)``."""

    def __init__(self, package: str, dist: str, modules: dict[int, str]) -> None:
        self.package = package  # the bluepython_hooks subpackage
        self.dist = dist
        self.modules = modules
        self.patcher = Patcher(dist)
        self.patched = False
        self.version: str | None = None

    def patch(self) -> None:
        """Registers the post-import hooks for the installed version; a
        missing library is not an error, an unsupported version is reported."""
        if self.patched:
            return
        self.patched = True
        self.version = library_version(self.dist)
        if self.version is None:
            return  # not installed: nothing to observe
        try:
            major = int(self.version.split(".")[0])
        except ValueError:
            major = -1
        module_name = self.modules.get(major)
        if module_name is None:
            supported = ", ".join(f"{m}.x" for m in sorted(self.modules))
            internal_error(
                f"hooks: {self.dist}",
                f"{self.dist} {self.version} is not supported (hooks exist for {supported}); "
                "its MCP traffic is not observed",
            )
            return
        from ._wrapt import wrapt

        def when_imported(target: str, fn: Any) -> None:
            wrapt.register_post_import_hook(guarded(f"hooks: {self.dist}: {target}", fn), target)

        try:
            hooks = importlib.import_module(f"{self.package}.{module_name}")
            hooks.install(self.patcher, when_imported)
        except Exception as exc:
            internal_error(f"hooks: {self.dist} {self.version}", exc)

    def unpatch(self) -> None:
        self.patcher.unwrap_all()
