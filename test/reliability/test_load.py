# SPDX-License-Identifier: Apache-2.0
"""Load: many concurrent MCP sessions whose calls have side effects (every
effect attributed to exactly its own call, none missing, no torn or
interleaved line), and bursts larger than the event queue (every refused event
counted exactly, the count reported in sensor_shutdown, the rest written)."""

from __future__ import annotations

import json
from collections import Counter

from conftest import (
    FIXTURES,
    McpVenv,
    Sandbox,
    attrs,
    check_envelope,
    check_stream,
    name,
    named,
    serve,
)

SESSIONS, CALLS = 50, 200


def test_50_sessions_x_200_calls_every_effect_attributed_to_its_call(sandbox: Sandbox, mcp1: McpVenv) -> None:
    work = sandbox.root / "files"
    work.mkdir()
    argv = [mcp1.bluepython, str(FIXTURES / "reliability" / "load_server.py")]
    log = sandbox.root / "server.log"
    with serve(lambda port: [*argv, str(port), str(work)], sandbox.env, sandbox.cwd, log) as server:
        client = [mcp1.python, str(FIXTURES / "reliability" / "load_client.py"), server.url]
        res = sandbox.run([*client, str(SESSIONS), str(CALLS)], timeout=600)
    assert res.returncode == 0, res.stderr.decode()[-3000:]
    results = json.loads(res.stdout)
    assert len(results) == SESSIONS * CALLS
    assert all(text == tag for tag, text in results.items())

    procs = list(sandbox.processes().values())
    (server,) = [evs for evs in procs if evs[0]["event"]["python_argv"][1].endswith("load_server.py")]
    check_stream(server)  # strict JSON per line, ids 1..n once each, nothing dropped

    requests = {}
    for e in named(server, "python_mcp_event"):
        a = attrs(e)
        if a["event"] == "server_received_request" and a["method"] == "tools/call":
            tag = a["message"]["params"]["arguments"]["tag"]
            assert tag not in requests, f"request {tag} reported twice"
            requests[tag] = (a["session_id"], a["id"], a["message"]["params"]["name"])
    assert sorted(requests) == sorted(results)
    # Each session keeps its own session id across its 200 calls.
    sessions = {tag[:4]: set() for tag in requests}
    for tag, (session_id, _, _) in requests.items():
        sessions[tag[:4]].add(session_id)
    assert all(len(ids) == 1 for ids in sessions.values())
    assert len({next(iter(ids)) for ids in sessions.values()}) == SESSIONS

    opens: dict[str, list[str]] = {}
    for e in named(server, "python_file_open"):
        path = str(attrs(e)["path"])
        if not path.startswith(str(work)):
            continue
        tag = path.rsplit("/", 1)[1].removesuffix(".txt")
        mcp = e["event"]["context"].get("mcp")
        session_id, request_id, tool = requests[tag]
        assert mcp is not None, f"effect of {tag} outside any call: {e}"
        assert (mcp["session_id"], mcp["request_id"], mcp["target"]) == (session_id, request_id, tool), (
            f"effect of {tag} attributed to another call: {e}"
        )
        opens.setdefault(tag, []).append(attrs(e)["access"])
    assert sorted(opens) == sorted(results), "calls without their file events"
    assert Counter(tuple(v) for v in opens.values()) == {("write", "read"): SESSIONS * CALLS}


BURST = """
import json, sys, threading, _bluepython
threads, per_thread = int(sys.argv[1]), int(sys.argv[2])
pad = "x" * 2000
refused = {}
def burst(t):
    refused[t] = [i for i in range(per_thread)
                  if not _bluepython.emit("app_event", {"t": t, "i": i, "pad": pad})]
workers = [threading.Thread(target=burst, args=(t,)) for t in range(threads)]
for w in workers: w.start()
for w in workers: w.join()
# After the burst the queue drains and events are accepted again.
_bluepython.flush()
after = _bluepython.emit("app_event", {"t": -1, "i": 0, "pad": ""})
print(json.dumps({"refused": refused, "after": after}))
"""


def _burst(sb: Sandbox, threads: int, per_thread: int) -> None:
    sb.write("burst.py", BURST)
    # No flush for a minute and the smallest queue: the burst must overflow it.
    sb.write("cfg.json", '{"spool": {"flush_interval_ms": 60000}, "queue": {"max_bytes": 65536}}')
    res = sb.bp("run", "--config", "cfg.json", "--disable", "all", "--",
                "burst.py", str(threads), str(per_thread))
    assert res.returncode == 0, res.stderr
    assert res.stderr == b""
    out = json.loads(res.stdout)
    assert out["after"] is True
    refused = {int(t): set(v) for t, v in out["refused"].items()}
    total_refused = sum(len(v) for v in refused.values())
    assert total_refused > 0, "the burst did not overflow the queue: the test proves nothing"

    (events,) = sb.processes().values()
    for ev in events:
        check_envelope(ev)
    ids = [ev["event"]["meta"]["source_event_id"] for ev in events]
    assert ids == list(range(1, len(events) + 1))
    assert name(events[-1]) == "sensor_shutdown"
    written = Counter((attrs(e)["t"], attrs(e)["i"]) for e in named(events, "app_event"))
    assert max(written.values()) == 1
    for t in range(threads):
        got = {i for (tt, i) in written if tt == t}
        assert got == set(range(per_thread)) - refused[t], f"thread {t}: written != accepted"
    assert (-1, 0) in written
    s = attrs(events[-1])
    assert s["dropped_queue_full"] == total_refused, s
    assert s["dropped"] == total_refused and s["dropped_spool"] == 0, s
    assert s["written"] == len(events) - 1, s
    assert s["emitted"] == s["written"] + s["dropped"] + s["filtered"], s


def test_burst_larger_than_the_queue_counts_every_drop(sandbox: Sandbox) -> None:
    _burst(sandbox, 1, 20000)


def test_burst_from_four_threads_counts_every_drop(sandbox: Sandbox) -> None:
    _burst(sandbox, 4, 5000)
