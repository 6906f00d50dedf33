# SPDX-License-Identifier: Apache-2.0
"""The former module of the mcp 1.x hooks, now the package ``mcp/v1``. Kept
only for test/integration/test_mcp_observer.py, which drives the Python
message path directly under these names; the hooks never import it."""

from __future__ import annotations

from .._emit import SERVER
from .v1._session import _observe, _Session, _sync

__all__ = ["SERVER", "_Session", "_observe", "_sync"]
