# SPDX-License-Identifier: Apache-2.0
"""The demo's MCP client: starts notes_server.py over stdio with the same
interpreter (so under bluepython the server is observed too), lists its
tools and calls each once."""

import asyncio
import sys
from pathlib import Path

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


async def main() -> None:
    server_script = Path(__file__).with_name("notes_server.py")
    server = StdioServerParameters(command=sys.executable, args=[str(server_script)])
    async with stdio_client(server) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        tools = await session.list_tools()
        print("tools:", ", ".join(tool.name for tool in tools.tools))
        for name, args in (("read_notes", {"limit": 2}), ("host_info", {})):
            result = await session.call_tool(name, args)
            text = " | ".join(block.text for block in result.content if block.type == "text")
            print(f"{name} -> {text}")


if __name__ == "__main__":
    asyncio.run(main())
