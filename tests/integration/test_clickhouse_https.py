"""ClickHouse over HTTPS with credentials, as far as a local server allows: a real TLS HTTP server
with a self-signed certificate stands where ClickHouse would and answers as ClickHouse does to a
wrong password. The evaluator's store and the report connect with the settings; the server sees
the credentials only over a verified connection, and no error message carries the password.
"""

from __future__ import annotations

import base64
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from pydantic import SecretStr
from tlscert import needs_openssl, self_signed

from gospublic.apps import report
from gospublic.settings import Settings
from services.evaluator.store import ClickHouseStore

pytestmark = [pytest.mark.integration, needs_openssl]

USER = "gospublic_writer"
PASSWORD = "ch-pass-5b1e0a77"


class _Handler(BaseHTTPRequestHandler):
    seen: list[dict[str, str]]

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.seen.append(dict(self.headers))
        body = (
            b"Code: 516. DB::Exception: gospublic_writer: Authentication failed: password is "
            b"incorrect, or there is no user with such name. (AUTHENTICATION_FAILED)\n"
        )
        self.send_response(401)
        self.send_header("Content-Type", "text/plain; charset=UTF-8")
        self.send_header("X-ClickHouse-Exception-Code", "516")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def https_server(tmp_path: Path) -> Iterator[tuple[str, Path, list[dict[str, str]]]]:
    cert, key = self_signed(tmp_path)
    seen: list[dict[str, str]] = []
    handler = type("Handler", (_Handler,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", cert, seen
    finally:
        server.shutdown()
        server.server_close()


def settings_for(tmp_path: Path, url: str, ca: Path | None) -> Settings:
    return Settings(
        _env_file=None,
        state_dir=tmp_path / "state",
        clickhouse_url=url,
        clickhouse_user=USER,
        clickhouse_password=SecretStr(PASSWORD),
        clickhouse_ca_file=ca,
    )


async def test_credentials_go_only_over_a_verified_connection(https_server, tmp_path) -> None:
    url, cert, seen = https_server
    # The port is neither 443 nor 8443: the https:// scheme alone has to turn TLS on.
    settings = settings_for(tmp_path, url, cert)

    with pytest.raises(Exception) as store_error:
        await ClickHouseStore.open(settings)
    with pytest.raises(Exception) as report_error:
        report.open_client(settings)
    assert len(seen) >= 2
    expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert all(headers.get("Authorization") == expected for headers in seen)
    for error in (store_error.value, report_error.value):
        assert "AUTHENTICATION_FAILED" in str(error) or "516" in str(error)
        assert PASSWORD not in str(error) and PASSWORD not in repr(error)

    # Without the private CA the certificate is not trusted: nothing reaches the server.
    seen.clear()
    with pytest.raises(Exception) as untrusted:
        await ClickHouseStore.open(settings_for(tmp_path, url, None))
    assert "CERTIFICATE_VERIFY_FAILED" in str(untrusted.value) or "certificate" in str(
        untrusted.value
    )
    assert seen == []


def test_credentials_in_the_url_win_and_settings_fill_the_rest(tmp_path) -> None:
    in_url = settings_for(tmp_path, "https://reader:other@ch.example:8443", None)
    assert "username" not in in_url.clickhouse_client_args()
    args = settings_for(tmp_path, "https://ch.example:8443", Path("/etc/ca.pem"))
    assert args.clickhouse_client_args() == {
        "dsn": "https://ch.example:8443",
        "username": USER,
        "password": PASSWORD,
        "secure": True,
        "verify": True,
        "ca_cert": "/etc/ca.pem",
    }
    assert (
        Settings(_env_file=None, state_dir=tmp_path)
        .clickhouse_client_args()["dsn"]
        .startswith("chdb://")
    )
