# SPDX-License-Identifier: Apache-2.0
"""The real telemetry stack the export tests run (built by test/setup_otel.sh into
build/otel/bin): an OpenTelemetry Collector of the official components and VictoriaLogs.
Each runs as a child process on free loopback ports, with its data in the test's tmp dir."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, TIMEOUT, _listening, free_port, wait_for

BIN = REPO / "build" / "otel" / "bin"
COLLECTOR = BIN / "otelcol-bluepython"
VICTORIA_LOGS = BIN / "victoria-logs"
SPOOL_FILELOG = REPO / "packaging" / "otelcol" / "spool-filelog.yaml"


def require_stack() -> None:
    for binary in (COLLECTOR, VICTORIA_LOGS):
        if not os.access(binary, os.X_OK):
            pytest.fail(f"{binary} is missing: run `bash test/setup_otel.sh` (builds the Collector and "
                        "VictoriaLogs from the Go module proxy into build/otel/bin)")


class Collector:
    """otelcol-bluepython with the given config files (later ones merge over earlier ones).
    `otlp_port` is its OTLP/HTTP receiver when the config has one (BLUEPYTHON_TEST_OTLP_PORT)."""

    def __init__(self, root: Path, configs: list[Path], env: dict[str, str] | None = None) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.configs = configs
        self.otlp_port = free_port()
        self.env = {**os.environ, "BLUEPYTHON_TEST_OTLP_PORT": str(self.otlp_port), **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self.runs = 0

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.otlp_port}"

    @property
    def log(self) -> Path:
        return self.root / f"collector-{self.runs}.log"

    def start(self, wait_port: bool = True) -> None:
        self.runs += 1
        argv = [str(COLLECTOR)]
        for config in self.configs:
            argv += ["--config", str(config)]
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(argv, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        if wait_port:
            wait_for(lambda: self._alive() and _listening(self.otlp_port), self.output, TIMEOUT)
        else:
            wait_for(lambda: self._alive() and "Everything is ready" in self.output(), self.output, TIMEOUT)

    def _alive(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"the Collector exited with {self.proc.returncode}:\n{self.output()}")
        return True

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


class VictoriaLogs:
    """A VictoriaLogs server; OTLP logs go to `otlp_logs_url`, LogsQL to `query`/`stats`."""

    def __init__(self, root: Path) -> None:
        self.port = free_port()
        root.mkdir(parents=True, exist_ok=True)
        self.log = root / "victoria-logs.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [str(VICTORIA_LOGS), f"-httpListenAddr=127.0.0.1:{self.port}",
                 f"-storageDataPath={root / 'vlogs'}", "-retentionPeriod=100y", "-futureRetention=100y",
                 "-loggerLevel=WARN"], stdout=out, stderr=subprocess.STDOUT)
        wait_for(lambda: self.proc.poll() is None and _listening(self.port),
                 lambda: self.log.read_text(errors="replace")[-3000:], TIMEOUT)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def otlp_logs_url(self) -> str:
        return f"{self.url}/insert/opentelemetry/v1/logs"

    def _post(self, path: str, **params: str) -> bytes:
        data = urllib.parse.urlencode(params).encode()
        with urllib.request.urlopen(f"{self.url}{path}", data=data, timeout=TIMEOUT) as response:
            return response.read()

    def query(self, logsql: str, **params: str) -> list[dict[str, Any]]:
        """Rows of /select/logsql/query (one JSON object per line)."""
        raw = self._post("/select/logsql/query", query=logsql, **params)
        return [json.loads(line) for line in raw.splitlines() if line.strip()]

    def stats(self, logsql: str, **params: str) -> dict[str, Any]:
        """/select/logsql/stats_query: a Prometheus-style instant vector."""
        return json.loads(self._post("/select/logsql/stats_query", query=logsql, **params))

    def stats_range(self, logsql: str, **params: str) -> dict[str, Any]:
        """/select/logsql/stats_query_range: a Prometheus-style range matrix."""
        return json.loads(self._post("/select/logsql/stats_query_range", query=logsql, **params))

    def count(self, logsql: str = "*") -> int:
        rows = self.stats(f"{logsql} | stats count() n")["data"]["result"]
        return int(rows[0]["value"][1]) if rows else 0

    def close(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def file_exporter_records(path: Path) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(resource attributes, log record) of every record the file exporter wrote (OTLP JSON,
    one export request per line)."""
    if not path.exists():
        return
    for line in path.read_text().splitlines():
        for rl in json.loads(line).get("resourceLogs", []):
            resource = otlp_attrs(rl.get("resource", {}).get("attributes", []))
            for sl in rl.get("scopeLogs", []):
                for record in sl.get("logRecords", []):
                    yield resource, record


def file_exporter_lines(path: Path) -> list[dict[str, Any]]:
    """The export requests the file exporter wrote, in order."""
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def otlp_value(v: dict[str, Any]) -> Any:
    """An OTLP JSON AnyValue as a Python value."""
    (kind, value), = v.items() if v else (("", None),)
    if kind == "kvlistValue":
        return otlp_attrs(value.get("values", []))
    if kind == "arrayValue":
        return [otlp_value(x) for x in value.get("values", [])]
    if kind == "intValue":
        return int(value)
    return value


def otlp_attrs(attributes: list[dict[str, Any]]) -> dict[str, Any]:
    return {a["key"]: otlp_value(a.get("value", {})) for a in attributes}


def wait_until_stable(count: Any, expected: int, what: str, timeout: float = TIMEOUT) -> None:
    """Waits until `count()` reaches `expected`; then checks it stays there a moment
    (nothing arrives twice)."""
    wait_for(lambda: count() >= expected, lambda: f"{what}: {count()} of {expected}", timeout)
    time.sleep(1.0)
    assert count() == expected, f"{what}: {count()} arrived, {expected} expected"
