# SPDX-License-Identifier: Apache-2.0
"""Hooks for the MCP Python SDK (``mcp``): ``v1`` for 1.x, ``v2`` for 2.x."""

from __future__ import annotations

from .._framework import Framework

framework = Framework(__name__, "mcp", {1: "v1", 2: "v2"})
patch = framework.patch
unpatch = framework.unpatch
