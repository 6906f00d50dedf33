"""Clients of the MCP call benchmark; always run under plain python.

    client.py stdio --server-exe EXE --flavor F --calls N --pid-file PATH
        spawns bench/mcp/server.py under EXE with the SDK's stdio client, makes
        N sequential tools/call, and prints one JSON object of measurements.
    client.py http --url URL --clients C --calls N
        C concurrent Streamable HTTP sessions (asyncio tasks, each its own
        ClientSession) making N sequential tools/call each; prints one JSON object.

Works with mcp 1.x and 2.x (the few API differences are bridged below). Every
result is checked, so a failing server cannot pass for a fast one.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

import anyio
from mcp.client.session import ClientSession

SERVER = Path(__file__).resolve().parent / "server.py"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid: int) -> float:
    """User+system CPU seconds of a live process, from /proc/<pid>/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def proc_mem(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a live process, in KiB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0])
    return out


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def check(result: Any, expected: int) -> None:
    # mcp 1.x names it isError, mcp 2.x is_error.
    if getattr(result, "is_error", None) or getattr(result, "isError", None):
        raise SystemExit(f"client: tools/call failed: {result}")
    text = result.content[0].text
    if text != str(expected):
        raise SystemExit(f"client: add returned {text!r}, expected {expected}")


async def call_loop(session: ClientSession, calls: int, offset: int = 0) -> None:
    for i in range(calls):
        result = await session.call_tool("add", {"a": i, "b": offset})
        check(result, i + offset)


async def stdio(args: argparse.Namespace) -> dict[str, Any]:
    from mcp.client.stdio import StdioServerParameters, stdio_client

    params = StdioServerParameters(
        command=args.server_exe,
        args=[str(SERVER), args.flavor, "stdio", "--pid-file", args.pid_file],
        env=dict(os.environ),  # the driver's environment: spool dir, HOME
    )
    out: dict[str, Any] = {}
    cpu_before = children_cpu()
    start = time.perf_counter()
    with open(os.devnull, "w") as errlog:
        transport = stdio_client(params, errlog=errlog)
        async with transport as (read, write, *_), ClientSession(read, write) as session:
            await session.initialize()
            initialized = time.perf_counter()
            pid = int(Path(args.pid_file).read_text())
            idle = proc_mem(pid)
            cpu_loop_start = proc_cpu(pid)
            await call_loop(session, args.calls)
            loop_end = time.perf_counter()
            out["server_cpu_loop_s"] = proc_cpu(pid) - cpu_loop_start
            out["rss_idle_kib"] = idle["VmRSS"]
            out["hwm_kib"] = proc_mem(pid)["VmHWM"]
    end = time.perf_counter()
    out.update(
        {
            "init_s": initialized - start,
            "loop_s": loop_end - initialized,
            "total_s": end - start,
            # The stdio client waits for the server it spawned, so the server's
            # whole-life CPU (start-up and shutdown included) lands here.
            "server_cpu_total_s": children_cpu() - cpu_before,
        }
    )
    return out


async def http(args: argparse.Namespace) -> dict[str, Any]:
    from mcp.client import streamable_http

    # mcp 1.x yields (read, write, get_session_id), mcp 2.x (read, write).
    connect = streamable_http.streamable_http_client
    ready = anyio.Event()
    started = 0

    async def one(index: int) -> None:
        nonlocal started
        async with connect(args.url) as (read, write, *_), ClientSession(read, write) as session:
            await session.initialize()
            started += 1
            if started == args.clients:
                ready.set()
            await ready.wait()  # all sessions open before the first call
            await call_loop(session, args.calls, offset=index)

    start = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for index in range(args.clients):
            tg.start_soon(one, index)
        await ready.wait()
        calls_start = time.perf_counter()
        cpu_start = time.process_time()
    end = time.perf_counter()
    return {
        "connect_s": calls_start - start,
        "calls_s": end - calls_start,
        "total_s": end - start,
        # This process's CPU from all sessions open to the end (session close
        # included): how close the clients came to saturating a core.
        "client_cpu_s": time.process_time() - cpu_start,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="mode", required=True)
    p = sub.add_parser("stdio")
    p.add_argument("--server-exe", required=True)
    p.add_argument("--flavor", required=True)
    p.add_argument("--calls", type=int, required=True)
    p.add_argument("--pid-file", required=True)
    p = sub.add_parser("http")
    p.add_argument("--url", required=True)
    p.add_argument("--clients", type=int, required=True)
    p.add_argument("--calls", type=int, required=True)
    args = parser.parse_args()
    result = anyio.run(stdio if args.mode == "stdio" else http, args)
    json.dump(result, sys.stdout)
    print()


if __name__ == "__main__":
    main()
