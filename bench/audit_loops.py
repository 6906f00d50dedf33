"""Audit-event loops: what observing side effects costs a program that makes many.

Run through ``bash bench/run.sh --loops``, which prepares the venv; this file expects
to be run by that venv's python, with bluepython symlinked next to it. It writes its
own section of docs/performance.md, between ``<!-- loops-bench:begin -->`` and
``<!-- loops-bench:end -->``.

Each workload is a loop timed inside the process (``time.perf_counter`` around the
loop only, so start-up and exit do not count), run under three sides, interleaved
round by round with the order rotating:

- ``python``: the venv's python;
- ``null hook``: the same python with one native audit hook that returns at once
  (bench/nullhook.c, compiled here). It is the floor for any audit-hook based sensor:
  CPython builds each event's argument tuple and calls the hook whatever it does;
- ``bluepython``: all categories on;
- ``bluepython + policy``: the same, enforcing a 50-rule file policy (``file_policy()``)
  that allows what the loops do.

The budget ratio is the paired one: the median over rounds of bluepython's loop time
divided by python's from the same round.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sections import markers, write_section

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent  # not resolved: the venv's python is a symlink
PYTHON = BIN / "python"
BLUEPYTHON = BIN / "bluepython"
BEGIN, END = markers("loops-bench")
SIDES = ("python", "null hook", "bluepython", "bluepython + policy")

# Every workload script ends by printing one JSON line: the loop's seconds and its
# iteration count. The null-hook side imports the module first.
PRELUDE = textwrap.dedent(
    """
    import json, os, sys, time
    if os.environ.get("BENCH_NULLHOOK_DIR"):
        sys.path.insert(0, os.environ["BENCH_NULLHOOK_DIR"])
        import bluepython_bench_nullhook  # noqa: F401
    def report(seconds, n):
        print(json.dumps({"seconds": seconds, "n": n}))
    """
)

OPEN_LOOP = textwrap.dedent(
    """
    import tempfile
    d = tempfile.mkdtemp()
    p = os.path.join(d, "data.txt")
    with open(p, "w") as f:
        f.write("x")
    def loop(n):
        for _ in range(n):
            open(p).close()
    loop(1000)
    t = time.perf_counter()
    loop(N)
    report(time.perf_counter() - t, N)
    """
)

UNRELATED_LOOP = textwrap.dedent(
    """
    getframe = sys._getframe
    def work():
        return getframe()  # raises the audit event sys._getframe, nothing else
    def loop(n):
        for _ in range(n):
            work()
    loop(1000)
    t = time.perf_counter()
    loop(N)
    report(time.perf_counter() - t, N)
    """
)

SPAWN_LOOP = textwrap.dedent(
    """
    import subprocess
    def loop(n):
        for _ in range(n):
            subprocess.run(["true"], check=True)
    loop(10)
    t = time.perf_counter()
    loop(N)
    report(time.perf_counter() - t, N)
    """
)


@dataclass
class Workload:
    name: str
    script: str
    n: int
    budget: float | None
    policy_budget: float | None  # bluepython + policy / bluepython
    seconds: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in SIDES})
    cpu: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in SIDES})
    events: int = 0


def workloads(quick: bool) -> list[Workload]:
    scale = 10 if quick else 1
    return [
        Workload("200,000 `open()` + `close()`, files on", OPEN_LOOP, 200_000 // scale, 1.15, 1.05),
        Workload("200,000 calls raising only an unrelated audit event (`sys._getframe`)", UNRELATED_LOOP,
                 200_000 // scale, 1.02, None),
        Workload("500 `subprocess.run(['true'])`, process on", SPAWN_LOOP, 500 // scale, None, None),
    ]


def file_policy() -> dict[str, Any]:
    """A 50-rule file policy (docs/policy.md), enforced: what the loops do is
    allowed (the temporary directory), and each of the 49 other rules denies
    paths of its own, so every open is decided against all of them."""
    tmp = os.path.realpath(tempfile.gettempdir())
    rules: list[dict[str, Any]] = [{
        "id": "scratch",
        "files": {"allow": {op: [f"{tmp}/**", "/dev/null", "/proc/**", "/etc/ssl/**"]
                            for op in ("read", "write", "create", "delete")}},
    }]
    for i in range(49):
        rules.append({
            "id": f"deny-{i}",
            "files": {"deny": {"read": [f"/srv/secret-{i}/**", f"/home/*/.keys-{i}/*.pem"],
                               "write": [f"/etc/app-{i}/**", f"{tmp}/locked-{i}/**"]}},
        })
    return {"version": 1, "rules": rules}


def build_nullhook(out_dir: Path) -> Path:
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        sys.exit("bench: no C compiler (cc) to build bench/nullhook.c")
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    target = out_dir / f"bluepython_bench_nullhook{suffix}"
    include = sysconfig.get_paths()["include"]
    subprocess.run([cc, "-O2", "-shared", "-fPIC", f"-I{include}", str(ROOT / "bench" / "nullhook.c"),
                    "-o", str(target)], check=True)
    return out_dir


def base_env(home: Path) -> dict[str, str]:
    # Inherited PYTHON*/BLUEPYTHON_* settings would change what is measured.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "BLUEPYTHON_", "BENCH_"))}
    env["HOME"] = str(home)
    env["BLUEPYTHON_ENABLE"] = "all"
    return env


def run_once(side: str, w: Workload, env: dict[str, str], nullhook_dir: Path,
             spool: Path) -> tuple[float, float]:
    exe = BLUEPYTHON if side.startswith("bluepython") else PYTHON
    env = {**env, "BLUEPYTHON_SPOOL_DIR": str(spool)}
    if side != "bluepython + policy":
        env.pop("BLUEPYTHON_POLICY", None)
    if side == "null hook":
        env["BENCH_NULLHOOK_DIR"] = str(nullhook_dir)
    code = PRELUDE + f"N = {w.n}\n" + w.script
    before = os.times()
    proc = subprocess.run([str(exe), "-c", code], env=env, capture_output=True, text=True)
    after = os.times()
    if proc.returncode != 0:
        sys.exit(f"bench: {side} {w.name} exited {proc.returncode}:\n{proc.stderr}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return result["seconds"], cpu


def count_events(w: Workload, env: dict[str, str], nullhook_dir: Path, spool: Path) -> None:
    run_once("bluepython", w, env, nullhook_dir, spool)
    w.events = sum(len(f.read_text().splitlines()) for f in spool.glob("*.ndjson"))


def paired(w: Workload, figure: str, side: str) -> float:
    samples = getattr(w, figure)
    return statistics.median(b / a for a, b in zip(samples["python"], samples[side], strict=True))


def per_iter(w: Workload, side: str) -> str:
    values = [s / w.n * 1e9 for s in w.seconds[side]]
    unit, scale = ("µs", 1e-3) if statistics.median(values) >= 10_000 else ("ns", 1.0)
    low, mid, high = (x * scale for x in (min(values), statistics.median(values), max(values)))
    return f"{mid:,.1f} {unit} ({low:,.1f}-{high:,.1f})"


def report(ws: list[Workload], runs: int, command: str) -> tuple[str, list[str]]:
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    version = json.loads(subprocess.run([str(BLUEPYTHON), "version", "--json"], capture_output=True).stdout)
    lines = [
        BEGIN,
        "## Audit-event loops",
        "",
        f"Produced by `{command}` on {now}.",
        "",
        f"- Machine: {len(os.sched_getaffinity(0))} CPUs; load average at end "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        f"- Python: {platform.python_implementation()} {platform.python_version()}; "
        f"bluepython {version['bluepython']}, all categories on",
        f"- Rounds: {runs}, each running python, null hook, bluepython and bluepython + policy once "
        "(order rotating)",
        "",
        "Each loop is timed inside the process, start-up and exit excluded. Times are medians",
        "per iteration with (min-max). *Null hook* is python with one native audit hook that",
        "returns at once (bench/nullhook.c): CPython's own price for any audit hook, the floor",
        "for every sensor built on `PySys_AddAuditHook`. Ratios are paired: the median over",
        "rounds of the side's loop time divided by python's in the same round. Process CPU",
        "is the whole process's user+sys time (start-up and bluepython's writer thread",
        "included), paired the same way. The open loop runs outside any MCP call, so none of",
        "its 200,000 events is folded: every one is written to the spool. *bluepython + policy*",
        "enforces a 50-rule file policy (`file_policy()` in bench/audit_loops.py) that allows what",
        "the loops do: every open is decided against all of them (the real path resolved, the deny",
        "entries that can match it found by its first path segment, then the allow list).",
        "",
        "| workload | python | null hook | bluepython | bluepython + policy | null hook / python "
        "| bluepython / python | bluepython / null hook | process CPU ratio | budget (bluepython / python) "
        "| policy / no policy | budget (policy / no policy) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | --- |",
    ]
    misses = []
    for w in ws:
        floor, ours = paired(w, "seconds", "null hook"), paired(w, "seconds", "bluepython")
        over_floor = statistics.median(
            b / a for a, b in zip(w.seconds["null hook"], w.seconds["bluepython"], strict=True))
        budget = "informational"
        if w.budget is not None:
            missed = ours > w.budget
            budget = f"≤ {w.budget:.2f}x" + (" **MISSED**" if missed else " ok")
            if missed:
                misses.append(f"BUDGET MISS: {w.name}: {ours:.3f}x > {w.budget:.2f}x")
        times = " | ".join(per_iter(w, side) for side in SIDES)
        cpu = paired(w, "cpu", "bluepython")
        ratios = " | ".join(f"{r:.3f}x" for r in (floor, ours, over_floor, cpu))
        with_policy = statistics.median(
            b / a for a, b in zip(w.seconds["bluepython"], w.seconds["bluepython + policy"], strict=True))
        policy_budget = "informational"
        if w.policy_budget is not None:
            missed = with_policy > w.policy_budget
            policy_budget = f"≤ {w.policy_budget:.2f}x" + (" **MISSED**" if missed else " ok")
            if missed:
                misses.append(
                    f"BUDGET MISS: {w.name} with a policy: {with_policy:.3f}x > {w.policy_budget:.2f}x")
        lines.append(f"| {w.name} | {times} | {ratios} | {budget} | {with_policy:.3f}x | {policy_budget} |")
    lines += ["", "Events one bluepython run of each loop writes:", "",
              "| workload | events |", "| --- | ---: |"]
    lines += [f"| {w.name} | {w.events:,} |" for w in ws]
    lines += ["", END, ""]
    return "\n".join(lines), misses


def main() -> None:
    parser = argparse.ArgumentParser(prog="bash bench/run.sh --loops", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15, help="rounds (default 15)")
    parser.add_argument("--quick", action="store_true", help="3 rounds, loops a tenth as long (smoke test)")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "performance.md")
    args = parser.parse_args()
    runs = 3 if args.quick else args.runs
    if runs < 1:
        parser.error("--runs must be at least 1")
    for exe in (PYTHON, BLUEPYTHON):
        if not exe.exists():
            sys.exit(f"bench: {exe} is missing; run this through bench/run.sh")
    ws = workloads(args.quick)
    with tempfile.TemporaryDirectory(prefix="bluepython-loops-") as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "home").mkdir()
        env = base_env(tmp / "home")
        policy = tmp / "policy.json"
        policy.write_text(json.dumps(file_policy()))
        env["BLUEPYTHON_POLICY"] = str(policy)  # the policy side's only (run_once)
        nullhook_dir = build_nullhook(tmp)
        for i, w in enumerate(ws):
            print(f"bench: {w.name} ({runs} rounds)", file=sys.stderr, flush=True)
            spool = tmp / f"spool-{i}"
            for round_no in range(runs + 1):
                order = SIDES[round_no % len(SIDES):] + SIDES[:round_no % len(SIDES)]
                for side in order:
                    seconds, cpu = run_once(side, w, env, nullhook_dir, spool)
                    if round_no > 0:  # round 0 warms caches and writes the import baseline
                        w.seconds[side].append(seconds)
                        w.cpu[side].append(cpu)
                    for f in spool.glob("*.ndjson"):
                        f.unlink()
            count_events(w, env, nullhook_dir, tmp / f"fresh-spool-{i}")
    command = " ".join(["bash bench/run.sh --loops", *sys.argv[1:]])
    section, misses = report(ws, runs, command)
    print(section)
    for line in misses:
        print(line)
    write_section(args.output, section, BEGIN, END)
    print(f"bench: wrote {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
