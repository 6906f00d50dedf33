"""Clients of the MCP call benchmark; always run under plain python.

    client.py stdio-pair --python-exe EXE --bluepython-exe EXE --flavor F --calls N
                         --block B --pid-dir DIR [--bluepython-first]
        spawns the server under both executables at once (two sessions) and
        makes N sequential tools/call to each, alternating between them in
        blocks of B calls (ABBA order), so that load drift on a shared machine
        hits both sides alike; prints one JSON object per side.
    client.py stdio-sides --spec FILE --flavor F --calls N --block B --pid-dir DIR
                          [--blob-bytes S] [--checkpoints N1,N2,...]
        the same for any number of servers: FILE is a JSON list of
        {"side", "command", "args", "env"} (the server's argv is command, args,
        server.py, ...; env is its whole environment); each block visits the
        sides in turn, the order rotating by one each block. --blob-bytes calls
        the ``blob`` tool (a result of S bytes) instead of ``add``; at each
        checkpoint (calls made per side) every server's memory is read.
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


async def blob_loop(session: ClientSession, calls: int, size: int) -> None:
    for _ in range(calls):
        result = await session.call_tool("blob", {"n": size})
        if getattr(result, "is_error", None) or getattr(result, "isError", None):
            raise SystemExit(f"client: tools/call blob failed: {result}")
        if len(result.content[0].text) != size:
            raise SystemExit(f"client: blob returned {len(result.content[0].text)} bytes, expected {size}")


async def stdio_pair(args: argparse.Namespace) -> dict[str, Any]:
    """The python and the bluepython server of one venv, each with this
    process's environment; with two sides, the rotation of stdio_sides is
    A B, B A, ... (ABBA)."""
    sides = ["bluepython", "python"] if args.bluepython_first else ["python", "bluepython"]
    exes = {"python": args.python_exe, "bluepython": args.bluepython_exe}
    specs = [{"side": side, "command": exes[side], "args": [], "env": dict(os.environ)} for side in sides]
    return await stdio_sides(specs, args.flavor, args.calls, args.block, Path(args.pid_dir))


async def stdio_sides(specs: list[dict[str, Any]], flavor: str, calls: int, block: int, pid_dir: Path,
                      blob_bytes: int = 0, checkpoints: tuple[int, ...] = ()) -> dict[str, Any]:
    """All servers live at once; their call loops are interleaved block by
    block. Each side's loop time is the sum of its blocks; its server CPU is
    read around the whole loop (the idle server blocks in read, at no CPU)."""
    from contextlib import AsyncExitStack

    from mcp.client.stdio import StdioServerParameters, stdio_client

    sides = [spec["side"] for spec in specs]
    out: dict[str, dict[str, Any]] = {side: {} for side in sides}
    sessions: dict[str, ClientSession] = {}
    pids: dict[str, int] = {}
    async with AsyncExitStack() as stack:
        errlog = stack.enter_context(open(os.devnull, "w"))  # noqa: SIM115 (closed by the stack)
        for spec in specs:  # spawned one after the other: start-up is timed alone
            side = spec["side"]
            pid_file = pid_dir / f"{side}.pid"
            params = StdioServerParameters(
                command=spec["command"],
                args=[*spec["args"], str(SERVER), flavor, "stdio", "--pid-file", str(pid_file)],
                env=spec["env"],
            )
            start = time.perf_counter()
            read, write, *_ = await stack.enter_async_context(stdio_client(params, errlog=errlog))
            session = await stack.enter_async_context(ClientSession(read, write))
            await session.initialize()
            out[side]["init_s"] = time.perf_counter() - start
            sessions[side] = session
            pids[side] = int(pid_file.read_text())
            idle = proc_mem(pids[side])
            out[side]["rss_idle_kib"] = idle["VmRSS"]
            out[side]["hwm_idle_kib"] = idle["VmHWM"]
        loop = {side: 0.0 for side in sides}
        cpu_start = {side: proc_cpu(pids[side]) for side in sides}
        done = 0
        block_no = 0
        while done < calls:
            n = min(block, calls - done)
            turn = block_no % len(sides)
            for side in sides[turn:] + sides[:turn]:  # A B C, B C A, C A B, ...
                start = time.perf_counter()
                if blob_bytes:
                    await blob_loop(sessions[side], n, blob_bytes)
                else:
                    await call_loop(sessions[side], n, offset=done)
                loop[side] += time.perf_counter() - start
            done += n
            block_no += 1
            for mark in checkpoints:
                if done >= mark and f"hwm_at_{mark}_kib" not in out[sides[0]]:
                    for side in sides:
                        mem = proc_mem(pids[side])
                        out[side][f"hwm_at_{mark}_kib"] = mem["VmHWM"]
                        out[side][f"rss_at_{mark}_kib"] = mem["VmRSS"]
        for side in sides:
            cpu = proc_cpu(pids[side])
            out[side].update({
                "loop_s": loop[side],
                "server_cpu_loop_s": cpu - cpu_start[side],
                "server_cpu_to_loop_end_s": cpu,  # start-up and loop, shutdown not included
                "hwm_kib": proc_mem(pids[side])["VmHWM"],
            })
    return out


async def stdio_spec(args: argparse.Namespace) -> dict[str, Any]:
    specs = json.loads(Path(args.spec).read_text())
    checkpoints = tuple(int(n) for n in args.checkpoints.split(",") if n)
    return await stdio_sides(specs, args.flavor, args.calls, args.block, Path(args.pid_dir),
                             args.blob_bytes, checkpoints)


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
    p = sub.add_parser("stdio-pair")
    p.add_argument("--python-exe", required=True)
    p.add_argument("--bluepython-exe", required=True)
    p.add_argument("--flavor", required=True)
    p.add_argument("--calls", type=int, required=True)
    p.add_argument("--block", type=int, required=True)
    p.add_argument("--pid-dir", required=True)
    p.add_argument("--bluepython-first", action="store_true")
    p = sub.add_parser("stdio-sides")
    p.add_argument("--spec", required=True)
    p.add_argument("--flavor", required=True)
    p.add_argument("--calls", type=int, required=True)
    p.add_argument("--block", type=int, required=True)
    p.add_argument("--pid-dir", required=True)
    p.add_argument("--blob-bytes", type=int, default=0)
    p.add_argument("--checkpoints", default="")
    p = sub.add_parser("http")
    p.add_argument("--url", required=True)
    p.add_argument("--clients", type=int, required=True)
    p.add_argument("--calls", type=int, required=True)
    args = parser.parse_args()
    result = anyio.run({"stdio-pair": stdio_pair, "stdio-sides": stdio_spec, "http": http}[args.mode], args)
    json.dump(result, sys.stdout)
    print()


if __name__ == "__main__":
    main()
