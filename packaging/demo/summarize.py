# SPDX-License-Identifier: Apache-2.0
"""Summarizes a bluepython spool directory for the demo: processes, event
counts, imported distributions and RECORD checks, faults and drops."""

import collections
import json
import sys
from pathlib import Path


def load(spool: Path) -> list[dict]:
    events = []
    for path in sorted(spool.glob("python-*.ndjson")):
        with path.open("rb") as f:
            for number, raw in enumerate(f, 1):
                try:
                    events.append(json.loads(raw))
                except ValueError:
                    print(f"warning: {path.name}:{number} is not valid JSON", file=sys.stderr)
    return events


def mcp_summary(events: list[dict]) -> None:
    """Servers, registered components, sessions and request latency by method."""

    def named(name: str) -> list[dict]:
        return [e for e in events if e["meta"]["name"] == name]

    inits, adds = named("python_mcp_server_init"), named("python_mcp_server_add")
    messages = named("python_mcp_event")
    if not (inits or adds or messages):
        print("\nMCP: no MCP events")
        return
    print("\nMCP servers")
    for e in inits:
        server = e.get("server") or {}
        print(f"  {server.get('name')} {server.get('version') or ''} ({e.get('framework', '?')})")
    kinds = collections.Counter((e.get("element") or {}).get("type") for e in adds)
    print("  registered: " + (", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "nothing"))
    for e in adds:
        element = e.get("element") or {}
        where = element.get("uri") or element.get("uri_template") or ""
        print(f"    {element.get('type'):<17} {element.get('name')} {where}")
    created = named("python_mcp_session_created")
    ended = named("python_mcp_session_terminated")
    connects = named("python_mcp_client_connect")
    print(f"  sessions: {len(created)} opened, {len(ended)} closed; client connects: {len(connects)}")
    sides = collections.Counter(e.get("event") for e in messages)
    print(f"  {len(messages)} JSON-RPC messages: " + ", ".join(f"{k} {n}" for k, n in sorted(sides.items())))
    by_method: dict[str, list[dict]] = collections.defaultdict(list)
    for e in messages:
        if e.get("event") == "server_send_response" and e.get("duration_ms") is not None:
            by_method[e.get("request_method") or e.get("method") or "?"].append(e)
    if by_method:
        print(f"\n  {'server-side method':<28} {'calls':>5} {'errors':>6} {'median ms':>9} {'max ms':>8}")
        for method, evs in sorted(by_method.items()):
            durations = sorted(e["duration_ms"] for e in evs)
            errors = sum(1 for e in evs if e.get("error"))
            median = durations[len(durations) // 2]
            print(f"  {method:<28} {len(evs):>5} {errors:>6} {median:>9.2f} {durations[-1]:>8.2f}")
    attributed = [e for e in events if (e.get("context") or {}).get("mcp")]
    if attributed:
        print(f"\n  events carrying the MCP call that caused them: {len(attributed)}")


_EFFECTS = ("python_process_", "python_file_", "python_net_", "python_code_")


def _effect_line(e: dict) -> str:
    name = e["meta"]["name"][len("python_"):]
    if name == "process_spawn":
        what = " ".join(str(a) for a in (e.get("argv") or [e.get("executable")]))
    elif name.startswith("file_"):
        what = f"{e.get('op') or e.get('access')} {e.get('path')}"
    elif name.startswith("net_"):
        what = e.get("url") or f"{e.get('host') or e.get('address')}:{e.get('port')}"
    else:
        what = e.get("filename") or e.get("library") or e.get("module") or e.get("via")
    return f"{name:<16} {str(what)[:70]}"


def effects_summary(events: list[dict]) -> None:
    """Side effects under the tool call that caused them; the rest by scope."""
    effects = [e for e in events if e["meta"]["name"].startswith(_EFFECTS)]
    if not effects:
        return
    calls: dict[str, list[dict]] = collections.defaultdict(list)
    for e in effects:
        mcp = (e.get("context") or {}).get("mcp")
        if mcp:
            calls[mcp["call_id"]].append(e)
    print(f"\nSide effects: {len(effects)}")
    for evs in calls.values():
        mcp = evs[0]["context"]["mcp"]
        print(f"  {mcp.get('method')} {mcp.get('target') or ''} (request {mcp.get('request_id')}, "
              f"session {str(mcp.get('session_id'))[:8]})")
        for e in evs[:8]:
            print(f"    {_effect_line(e)}")
        if len(evs) > 8:
            print(f"    ... and {len(evs) - 8} more")
    scopes = collections.Counter((e.get("context") or {}).get("scope") for e in effects if e not in
                                 [x for evs in calls.values() for x in evs])
    if scopes:
        print("  outside calls: " + ", ".join(f"{scope} {n}" for scope, n in scopes.most_common()))


def main() -> int:
    spool = Path(sys.argv[1] if len(sys.argv) > 1 else Path.home() / ".bluepython" / "spool")
    events = load(spool)
    if not events:
        print(f"no events in {spool}")
        return 1
    by_pid: dict[int, list[dict]] = collections.defaultdict(list)
    for e in events:
        by_pid[e["event"]["context"]["process"]["pid"]].append(e["event"])

    print(f"\n{len(events)} events from {len(by_pid)} processes in {spool}\n")
    print(f"{'pid':>8} {'parent':>8}  {'events':>6} {'dropped':>7}  command")
    for pid, evs in by_pid.items():
        start = next((e for e in evs if e["meta"]["name"] == "sensor_startup"), {})
        stop = next((e for e in evs if e["meta"]["name"] == "sensor_shutdown"), {})
        parent = (start.get("parent") or {}).get("pid", "-")
        argv = " ".join(start.get("python_argv", [])[1:])[:70]
        dropped = stop.get("dropped", "?")
        print(f"{pid:>8} {parent!s:>8}  {len(evs):>6} {dropped!s:>7}  {argv}")

    print("\nevents by name")
    for name, count in collections.Counter(e["event"]["meta"]["name"] for e in events).most_common():
        print(f"  {count:>6}  {name}")

    imports = [e["event"] for e in events if e["event"]["meta"]["name"] == "python_import"]
    if imports:
        kinds = collections.Counter(i.get("kind") for i in imports)
        print("\nimports by kind: " + ", ".join(f"{k} {n}" for k, n in kinds.most_common()))
        dists: dict[tuple[str, str], list[dict]] = collections.defaultdict(list)
        for i in imports:
            if i.get("pkg"):
                dists[(i["pkg"], i.get("version") or "?")].append(i)
        print(f"\n{len(dists)} installed distributions imported (modules, RECORD-verified, mismatches):")
        for (name, version), mods in sorted(dists.items(), key=lambda kv: -len(kv[1]))[:15]:
            verified = sum(1 for m in mods if m.get("record_match") is True)
            bad = [m for m in mods if m.get("record_match") is False]
            print(f"  {name} {version}: {len(mods)} modules, {verified} verified, {len(bad)} mismatched")
        if len(dists) > 15:
            print(f"  ... and {len(dists) - 15} more")
        mismatched = [i for i in imports if i.get("record_match") is False]
        changed = [i for i in imports if i.get("hash_changed")]
        print(f"\nRECORD mismatches: {len(mismatched)}   changed since the previous run: {len(changed)}")
        for i in (mismatched + changed)[:10]:
            print(f"  {i['fullname']}  {i.get('file')}")

    mcp_summary([e["event"] for e in events])
    effects_summary([e["event"] for e in events])

    faults = [e["event"] for e in events if e["event"]["meta"]["name"] == "python_internal_exception"]
    print(f"\ninternal faults: {len(faults)}")
    for f in faults[:5]:
        print(f"  {f.get('where')}: {f.get('message')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
