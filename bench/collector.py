"""Sizing a fleet (docs/export.md "Sizing"): what one bluepython event costs downstream.

1. Bytes per event: the mean spool line of two workloads, a stdio MCP server answering tool
   calls that write a file (bench/mcp/server.py under bench/mcp/client.py) and a loop of
   `open()` calls.
2. Collector CPU per event, on both paths, with the Collector this repository tests
   (build/otel/bin/otelcol-bluepython, test/setup_otel.sh) and VictoriaLogs as the backend:
   - tail: the shipped packaging/otelcol/spool-filelog.yaml reads a spool of N events;
   - push: N events exported by bluepython itself to the Collector's otlp receiver, then the
     otlphttp exporter.
   The Collector's user+system CPU seconds (from /proc) once everything has arrived,
   divided by N, give the cores 10,000 events/s take.

    python bench/collector.py [--events N] [--output docs/performance.md]

Writes its section of docs/performance.md between ``<!-- collector-bench:begin -->`` and
``<!-- collector-bench:end -->``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

from sections import markers, write_section

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / "build" / "otel" / "bin"
BLUEPYTHON = ROOT / "build" / "bluepython"
SPOOL_FILELOG = ROOT / "packaging" / "otelcol" / "spool-filelog.yaml"
_QUIET = "service:\n  telemetry: {metrics: {level: none}}\n"
_PUSH = """
service:
  telemetry: {metrics: {level: none}}
  pipelines:
    logs: {receivers: [otlp], processors: [batch], exporters: [otlphttp/logs]}
receivers:
  otlp:
    protocols:
      http: {endpoint: "127.0.0.1:${env:PORT}"}
processors:
  batch: {}
exporters:
  otlphttp/logs: {logs_endpoint: "${env:BLUEPYTHON_LOGS_ENDPOINT}"}
"""
_LOOP = """
import sys
for i in range(int(sys.argv[1])):
    open("f.txt", "w").close()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port}")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Store:
    def __init__(self, root: Path) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen([str(BIN / "victoria-logs"), f"-httpListenAddr=127.0.0.1:{self.port}",
                                      f"-storageDataPath={root / 'vlogs'}", "-retentionPeriod=100y",
                                      "-futureRetention=100y", "-loggerLevel=ERROR"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port)

    def count(self) -> int:
        data = urllib.parse.urlencode({"query": "* | stats count() n"}).encode()
        url = f"http://127.0.0.1:{self.port}/select/logsql/query"
        with urllib.request.urlopen(url, data=data, timeout=60) as r:
            rows = [json.loads(x) for x in r.read().splitlines() if x.strip()]
        return int(rows[0]["n"]) if rows else 0

    def close(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=60)


def collector(configs: list[Path], env: dict[str, str]) -> subprocess.Popen[bytes]:
    argv = [str(BIN / "otelcol-bluepython")]
    for c in configs:
        argv += ["--config", str(c)]
    return subprocess.Popen(argv, env={**os.environ, **env},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_count(store: Store, n: int, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while store.count() < n:
        if time.monotonic() > deadline:
            raise SystemExit(f"only {store.count()} of {n} events arrived")
        time.sleep(0.2)


def spool_of(work: Path, loops: int, env: dict[str, str]) -> tuple[Path, int, int]:
    spool = work / "spool"
    work.mkdir(parents=True, exist_ok=True)
    (work / "loop.py").write_text(_LOOP)
    subprocess.run([str(BLUEPYTHON), "loop.py", str(loops)], cwd=work, check=True,
                   env={**os.environ, "BLUEPYTHON_SPOOL_DIR": str(spool), **env})
    files = list(spool.glob("*.ndjson"))
    return spool, sum(f.read_text().count("\n") for f in files), sum(f.stat().st_size for f in files)


def tail_path(work: Path, loops: int) -> tuple[int, int, float]:
    spool, events, size = spool_of(work, loops, {})
    store = Store(work)
    quiet = work / "quiet.yaml"
    quiet.write_text(_QUIET)
    proc = collector([SPOOL_FILELOG, quiet], {"BLUEPYTHON_SPOOL_DIR": str(spool),
                                              "BLUEPYTHON_COLLECTOR_STATE": str(work / "state"),
                                              "BLUEPYTHON_LOGS_ENDPOINT": f"http://127.0.0.1:{store.port}"
                                                                          "/insert/opentelemetry/v1/logs"})
    try:
        wait_count(store, events)
        cpu = cpu_seconds(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        store.close()
    return events, size, cpu


def push_path(work: Path, loops: int) -> tuple[int, float]:
    work.mkdir(parents=True, exist_ok=True)
    store = Store(work)
    port = free_port()
    config = work / "push.yaml"
    config.write_text(_PUSH)
    proc = collector([config], {"PORT": str(port), "BLUEPYTHON_LOGS_ENDPOINT":
                                f"http://127.0.0.1:{store.port}/insert/opentelemetry/v1/logs"})
    try:
        wait_port(port)
        export = {"OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": f"http://127.0.0.1:{port}/v1/logs"}
        _, events, _ = spool_of(work, loops, export)
        wait_count(store, events - 1)  # all but sensor_shutdown
        cpu = cpu_seconds(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        store.close()
    return events, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=100_000, help="open() calls per run")
    ap.add_argument("--output", type=Path)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as t:
        tail_events, size, tail_cpu = tail_path(Path(t) / "tail", args.events)
    with tempfile.TemporaryDirectory() as t:
        push_events, push_cpu = push_path(Path(t) / "push", args.events)
    per10k = {"tail": tail_cpu / tail_events * 10_000, "push": push_cpu / push_events * 10_000}
    begin, end = markers("collector-bench")
    section = f"""{begin}
### Downstream: bytes per event and Collector CPU (bench/collector.py)

{datetime.date.today().isoformat()}, {os.cpu_count()} cores. A loop of {args.events:,} `open()` calls under
bluepython, shipped to VictoriaLogs by the Collector this repository builds (test/setup_otel.sh).

| measure | value |
| --- | ---: |
| events | {tail_events:,} |
| bytes per event (mean spool line) | {size / tail_events:.0f} |
| Collector CPU, tail path (filelog, spool-filelog.yaml) | {per10k['tail']:.2f} cores per 10,000 events/s |
| Collector CPU, push path (otlp receiver, batch) | {per10k['push']:.2f} cores per 10,000 events/s |
{end}
"""
    print(section)
    if args.output:
        write_section(args.output, section, begin, end)


if __name__ == "__main__":
    main()
