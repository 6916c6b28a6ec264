"""The services as child processes of one command (``gospublic demo``, ``gospublic up``).

Each child is ``python -m gospublic <command>`` wired by environment variables alone, the same
variables that point a service at real servers; it gets a free port for ``/healthz``, ``/readyz``
and ``/metrics``, its own session (so a terminal's Ctrl-C reaches only the parent, which then stops
the children in order) and a log file.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gospublic.runtime import free_port


def child_env(values: Mapping[str, str], *, inherit_settings: bool) -> dict[str, str]:
    """The parent's environment plus ``values``; ``GOSPUBLIC_*`` inherited only if asked."""
    env = {
        k: v for k, v in os.environ.items() if inherit_settings or not k.startswith("GOSPUBLIC_")
    }
    env.update(values)
    return env


@dataclass
class ServiceProcess:
    name: str
    process: subprocess.Popen
    http_port: int
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def _get(self, path: str) -> tuple[int, str] | None:
        try:
            with urllib.request.urlopen(self.base_url + path, timeout=2) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, ""
        except OSError:
            return None

    def ready(self) -> bool:
        answer = self._get("/readyz")
        return answer is not None and answer[0] == 200

    def metric(self, name: str) -> float | None:
        """Read one un-labelled sample from the service's /metrics."""
        answer = self._get("/metrics")
        if answer is None or answer[0] != 200:
            return None
        for line in answer[1].splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return None

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class ProcessGroup:
    log_dir: Path
    services: list[ServiceProcess] = field(default_factory=list)

    def spawn(self, name: str, argv: list[str], env: Mapping[str, str]) -> ServiceProcess:
        """Start ``gospublic <argv>`` with ``env`` and a free GOSPUBLIC_HTTP_PORT."""
        port = free_port()
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}.log"
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(
                [sys.executable, "-m", "gospublic", *argv],
                env={**env, "GOSPUBLIC_HTTP_PORT": str(port)},
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        service = ServiceProcess(name, process, port, log_path)
        self.services.append(service)
        return service

    def check_alive(self) -> None:
        """Raise ``RuntimeError`` with the log's last lines if a child has exited."""
        for service in self.services:
            code = service.process.poll()
            if code is not None:
                raise RuntimeError(
                    f"{service.name} exited with code {code}; last lines of {service.log_path}:\n"
                    + service.log_tail()
                )

    def wait_ready(
        self, timeout_s: float, cancelled: Callable[[], bool] = lambda: False
    ) -> list[ServiceProcess]:
        """Wait until every child answers /readyz (or ``cancelled()``); return the late ones."""
        deadline = time.monotonic() + timeout_s
        waiting = list(self.services)
        while waiting and time.monotonic() < deadline and not cancelled():
            self.check_alive()
            waiting = [s for s in waiting if not s.ready()]
            if waiting:
                time.sleep(0.2)
        return waiting

    def stop_all(self, timeout_s: float = 30.0) -> None:
        """SIGTERM in reverse start order (each finishes its batch), then wait; kill stragglers."""
        for service in reversed(self.services):
            if service.process.poll() is None:
                service.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for service in self.services:
            remaining = max(0.1, deadline - time.monotonic())
            try:
                service.process.wait(timeout=remaining)
            except subprocess.TimeoutExpired:
                service.process.kill()
                service.process.wait()
