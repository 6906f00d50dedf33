# SPDX-License-Identifier: Apache-2.0
"""The wrapt the hooks use: the app's own when its environment has one, else
the copy built into bluepython, imported under a private name
(``bluepython_hooks._vendor.wrapt``) so it never shadows, and is never
shadowed by, the app's ``wrapt``."""

from __future__ import annotations

# Imported straight away, not probed first with importlib.util.find_spec: the import
# monitor reports a module when a finder finds it, so a probe and then the import
# would report the app's wrapt twice.
try:
    import wrapt

    source = "app"
except ImportError:
    from ._vendor import wrapt  # type: ignore[no-redef]

    source = "bundled"

__all__ = ["source", "wrapt"]
