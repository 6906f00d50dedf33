"""The MCP server the MCP call benchmarks talk to: a small tool, ``add``, and
``blob(n)``, which returns a string of n bytes (bench/compare.py's large-result
workload).

Run by bench/mcp_calls.py and bench/compare.py (through the client for stdio)
under a venv's ``python``, its ``bluepython``, or BlueRock's sensor:

    server.py FLAVOR stdio [--pid-file PATH]
    server.py FLAVOR http --port N [--pid-file PATH]

FLAVOR picks the server framework of the venv: ``sdk1`` (mcp 1.x
``mcp.server.fastmcp.FastMCP``), ``sdk2`` (mcp 2.x
``mcp.server.mcpserver.MCPServer``), ``fastmcp`` (standalone ``fastmcp.FastMCP``,
3.x or 4.x). Logging is at WARNING on every flavor: the per-request INFO lines
some frameworks log by default would cost the same on both sides and only dilute
the ratio.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any


def add(a: int, b: int) -> int:
    """Adds two numbers."""
    return a + b


def blob(n: int) -> str:
    """Returns a string of n bytes."""
    return "x" * n


def build(flavor: str, port: int) -> Any:
    if flavor == "sdk1":
        from mcp.server.fastmcp import FastMCP

        # mcp 1.x takes host and port as FastMCP settings, not run() arguments.
        server = FastMCP("bench", log_level="WARNING", host="127.0.0.1", port=port or 8000)
    elif flavor == "sdk2":
        from mcp.server.mcpserver import MCPServer

        server = MCPServer("bench", log_level="WARNING")
    elif flavor == "fastmcp":
        os.environ.setdefault("FASTMCP_LOG_LEVEL", "WARNING")
        os.environ.setdefault("FASTMCP_SHOW_SERVER_BANNER", "false")
        from fastmcp import FastMCP

        server = FastMCP("bench")
    else:
        raise SystemExit(f"server.py: unknown flavor {flavor!r}")
    server.tool()(add)
    server.tool()(blob)
    return server


def run(server: Any, flavor: str, transport: str, port: int) -> None:
    if transport == "stdio":
        if flavor == "fastmcp":
            server.run("stdio", show_banner=False)
        else:
            server.run("stdio")
        return
    if flavor == "sdk1":
        server.run("streamable-http")
    elif flavor == "sdk2":
        server.run("streamable-http", host="127.0.0.1", port=port)
    else:
        server.run("http", host="127.0.0.1", port=port, show_banner=False, log_level="WARNING")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("flavor", choices=["sdk1", "sdk2", "fastmcp"])
    parser.add_argument("transport", choices=["stdio", "http"])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--pid-file", type=Path)
    args = parser.parse_args()
    server = build(args.flavor, args.port)
    if args.pid_file is not None:
        # The client reads this process's /proc entries (CPU, RSS) by this pid.
        args.pid_file.write_text(str(os.getpid()))
    run(server, args.flavor, args.transport, args.port)


if __name__ == "__main__":
    main()
