# SPDX-License-Identifier: Apache-2.0
"""The wrapt the hooks use: the app's own when its environment has one, else
the copy built into bluepython, imported under a private name
(``bluepython_hooks._vendor.wrapt``) so it never shadows, and is never
shadowed by, the app's ``wrapt``."""

from __future__ import annotations

import importlib.util

if importlib.util.find_spec("wrapt") is not None:
    import wrapt

    source = "app"
else:
    from ._vendor import wrapt  # type: ignore[no-redef]

    source = "bundled"

__all__ = ["source", "wrapt"]
