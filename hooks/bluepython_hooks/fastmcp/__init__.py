# SPDX-License-Identifier: Apache-2.0
"""Hooks for standalone FastMCP (``fastmcp``): ``v3`` for 3.x (on mcp 1.x),
``v4`` for 4.x (on mcp 2.x). Messages are seen by the SDK hooks; these add
what only fastmcp knows (registration, server identity, attribution)."""

from __future__ import annotations

from .._framework import Framework

framework = Framework(__name__, "fastmcp", {3: "v3", 4: "v4"})
patch = framework.patch
unpatch = framework.unpatch
