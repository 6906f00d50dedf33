# SPDX-License-Identifier: Apache-2.0
"""A small MCP server (stdio) used by the demo: two tools with side effects."""

import platform
import subprocess
from pathlib import Path

from mcp.server.fastmcp import FastMCP

NOTES = Path(__file__).with_name("notes.txt")

server = FastMCP("notes", instructions="Reads the team's notes and describes the host.")


@server.tool()
def read_notes(limit: int = 3) -> str:
    """Return the first `limit` lines of the notes file."""
    return "\n".join(NOTES.read_text().splitlines()[:limit])


@server.tool()
def host_info() -> str:
    """Describe the machine (runs `uname -sr`)."""
    kernel = subprocess.run(["uname", "-sr"], capture_output=True, text=True, check=False).stdout.strip()
    return f"{platform.python_implementation()} {platform.python_version()} on {kernel}"


if __name__ == "__main__":
    server.run("stdio")
