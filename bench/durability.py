"""What durability costs (docs/reliability.md "Durable at emit", issue 19): the event queue in a
MAP_SHARED journal, and the three `spool.fsync` modes.

1. The native pipeline to disk (build/bench/bluepython_pipeline_bench, producer and writer pinned
   to one CPU): the queue in process memory (`--no-journal`, the pipeline before the journal)
   against the journal with `spool.fsync` never (the default), interval and always. Rounds
   alternate the variants; medians of events/s.
2. Four stdio servers at once, driven by one SDK client with their call loops interleaved in
   blocks (bench/mcp/client.py `stdio-sides`): python, and bluepython with `spool.fsync`
   never, interval and always (a config file each). Medians of the per-round ratios to python.

    python bench/durability.py [--rounds N] [--output docs/performance.md]

Writes its section of docs/performance.md between ``<!-- durability-bench:begin -->`` and
``<!-- durability-bench:end -->``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from sections import markers, write_section

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"
CLIENT = ROOT / "bench" / "mcp" / "client.py"
PIPELINE = BUILD / "bench" / "bluepython_pipeline_bench"
NATIVE = {  # variant: (arguments, events)
    "memory": (["--no-journal"], 5_000_000),
    "never": (["--fsync", "never"], 5_000_000),
    "interval": (["--fsync", "interval"], 5_000_000),
    "always": (["--fsync", "always"], 20_000),
}
MODES = ("never", "interval", "always")


def rate(value: float, unit: bool = True) -> str:
    """2.48M/s, or 2,508/s below 100k."""
    text = f"{value / 1e6:.2f}M" if value >= 1e5 else f"{value:,.0f}"
    return f"{text}/s" if unit else text


def native_round(tmp: Path) -> dict[str, float]:
    out: dict[str, float] = {}
    for variant, (extra, events) in NATIVE.items():
        target = tmp / f"pipeline-{variant}"
        printed = subprocess.run([str(PIPELINE), "--events", str(events), "--dir", str(target), *extra],
                                 capture_output=True, check=True, text=True, timeout=1800).stdout
        out[variant] = json.loads(printed)["events_per_second"]
        shutil.rmtree(target, ignore_errors=True)
        shutil.rmtree(f"{target}.state", ignore_errors=True)
    return out


def stdio_round(venv: Path, calls: int, tmp: Path) -> dict[str, float]:
    spool = tmp / "spool"
    base = {**os.environ, "BLUEPYTHON_SPOOL_DIR": str(spool)}
    specs = [{"side": "python", "command": str(venv / "bin" / "python"), "args": [], "env": base}]
    for mode in MODES:
        config = tmp / f"fsync-{mode}.json"
        config.write_text(json.dumps({"spool": {"fsync": mode}}))
        specs.append({"side": mode, "command": str(venv / "bin" / "bluepython"), "args": [],
                      "env": {**base, "BLUEPYTHON_CONFIG": str(config)}})
    spec = tmp / "spec.json"
    spec.write_text(json.dumps(specs))
    pid_dir = tmp / "pids"
    pid_dir.mkdir(exist_ok=True)
    out = subprocess.run([str(venv / "bin" / "python"), str(CLIENT), "stdio-sides", "--spec", str(spec),
                          "--flavor", "sdk1", "--calls", str(calls), "--block", "25",
                          "--pid-dir", str(pid_dir)],
                         capture_output=True, check=True, timeout=1800).stdout
    shutil.rmtree(spool, ignore_errors=True)
    result = json.loads(out)
    return {side: result[side]["loop_s"] for side in ("python", *MODES)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--venv", type=Path, default=BUILD / "test-venv-mcp1")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "performance.md")
    args = parser.parse_args()
    natives: list[dict[str, float]] = []
    stdio: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="bp-durability-bench-") as tmp:
        for i in range(args.rounds + 1):  # the first round warms up
            n = native_round(Path(tmp))
            s = stdio_round(args.venv, args.calls, Path(tmp))
            print(f"durability bench: round {i}: native {n} stdio {s}", file=sys.stderr)
            if i:
                natives.append(n)
                stdio.append(s)
    native = {v: statistics.median(r[v] for r in natives) for v in NATIVE}
    spread = {v: (min(r[v] for r in natives), max(r[v] for r in natives)) for v in NATIVE}
    ratio = {m: statistics.median(r[m] / r["python"] for r in stdio) for m in MODES}
    loop = {side: statistics.median(r[side] for r in stdio) for side in ("python", *MODES)}

    begin, end = markers("durability-bench")
    never = native["never"]
    lines = [
        begin,
        "## Durability (docs/reliability.md, \"Durable at emit\")",
        "",
        f"`python bench/durability.py --rounds {args.rounds}`, {datetime.date.today().isoformat()}, "
        f"{os.cpu_count()} CPUs, the spool and journal on the build machine's disk.",
        "",
        "The native pipeline to disk (`build/bench/bluepython_pipeline_bench`, producer and writer "
        "pinned to one CPU; rounds alternate the variants):",
        "",
        "| queue | `spool.fsync` | events | events/s, median (min-max) | vs the journal, `never` |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    labels = {"memory": ("process memory (before issue 19)", "never"), "never": ("journal", "never"),
              "interval": ("journal", "interval"), "always": ("journal", "always")}
    for variant, (_, events) in NATIVE.items():
        queue, mode = labels[variant]
        lo, hi = spread[variant]
        lines.append(f"| {queue} | `{mode}` | {events:,} | {rate(native[variant])} "
                     f"({rate(lo, unit=False)}-{rate(hi, unit=False)}) | {native[variant] / never:.3f}x |")
    verdict = "ok" if never >= 2e6 else "**MISSED**"
    lines += [
        "",
        f"Budget: ≥ 2M events/s with the journal: {never / 1e6:.2f}M/s, {verdict}. The journal "
        "against process memory is within the machine's noise (the push is the same `memcpy`, "
        "into other pages). `interval` is as fast as the disk takes a second's worth of spool "
        "(each `fdatasync` waits for it; a server writes far less than this loop). `always` waits "
        f"for the disk on every emit (`msync`), {native['always']:,.0f} events/s here: a setting "
        "for a handful of events that must never be lost to a power cut, not for tracing a busy "
        "server.",
        "",
        f"{args.calls:,} stdio `tools/call` (`add`, the mcp 1.x SDK), four servers at once with "
        "their loops interleaved; medians of the per-round ratios:",
        "",
        "| side | loop s | vs python |",
        "| --- | ---: | ---: |",
        f"| python | {loop['python']:.3f} | - |",
    ]
    for mode in MODES:
        lines.append(f"| bluepython, `spool.fsync` `{mode}` | {loop[mode]:.3f} | {ratio[mode]:.3f}x |")
    lines.append(end)
    write_section(args.output, "\n".join(lines) + "\n", begin, end)
    print(json.dumps({"native": native, "stdio": ratio}))


if __name__ == "__main__":
    main()
