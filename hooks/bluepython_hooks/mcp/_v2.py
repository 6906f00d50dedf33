# SPDX-License-Identifier: Apache-2.0
"""The former module of the mcp 2.x hooks, now the package ``mcp/v2``. Kept
only for the integration tests: test_mcp_observer.py drives the Python
message path directly under these names, and test_fastmcp_v4.py checks that
this file exists. The hooks never import it."""

from __future__ import annotations

from .._emit import SERVER as _SERVER
from .v2._links import _Link
from .v2._messages import _observe
from .v2._shared import _PROTOCOL_VERSION_KEY

__all__ = ["_PROTOCOL_VERSION_KEY", "_SERVER", "_Link", "_observe"]
