# SPDX-License-Identifier: Apache-2.0
"""Summarizes a bluepython spool directory for the demo: processes, event
counts, imported distributions and RECORD checks, faults and drops."""

import collections
import json
import sys
from pathlib import Path


def load(spool: Path) -> list[dict]:
    events = []
    for path in sorted(spool.glob("bluepython-*.ndjson")):
        with path.open("rb") as f:
            for number, raw in enumerate(f, 1):
                try:
                    events.append(json.loads(raw))
                except ValueError:
                    print(f"warning: {path.name}:{number} is not valid JSON", file=sys.stderr)
    return events


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

    faults = [e["event"] for e in events if e["event"]["meta"]["name"] == "python_internal_exception"]
    print(f"\ninternal faults: {len(faults)}")
    for f in faults[:5]:
        print(f"  {f.get('where')}: {f.get('message')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
