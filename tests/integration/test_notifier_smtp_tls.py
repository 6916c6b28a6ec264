"""E-mail over STARTTLS and implicit TLS, with AUTH, against real aiosmtpd servers.

The certificate is self-signed and made for the test with the ``openssl`` command; the notifier
trusts it through ``smtp_ca_file``, as it would trust a relay's internal CA.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from gospublic import contracts as c
from gospublic.runtime import free_port
from gospublic.settings import Settings
from services.notifier import email as mail
from services.notifier.pipeline import Pipeline
from services.notifier.subscriptions import parse_subscriptions

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command"),
]

PASSWORD = "s3cret-Pa55"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


class Recorder:
    def __init__(self) -> None:
        self.accepted: list[tuple[bytes, bool]] = []  # (content, arrived over TLS)
        self.logins: list[str] = []

    async def handle_DATA(self, server, session, envelope):
        tls = server.transport.get_extra_info("ssl_object") is not None
        self.accepted.append((envelope.content, tls))
        return "250 Message accepted"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        self.logins.append(auth_data.login.decode())
        return AuthResult(success=auth_data.password == PASSWORD.encode(), handled=False)


def server_context(certificate) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*map(str, certificate))
    return context


@pytest.fixture
def starttls_server(certificate) -> Iterator[tuple[Recorder, int]]:
    recorder = Recorder()
    controller = Controller(
        recorder,
        hostname="127.0.0.1",
        port=free_port(),
        tls_context=server_context(certificate),
        require_starttls=True,
        authenticator=recorder.authenticate,
        auth_require_tls=True,
    )
    controller.start()
    try:
        yield recorder, controller.port
    finally:
        controller.stop()


@pytest.fixture
def implicit_tls_server(certificate) -> Iterator[tuple[Recorder, int]]:
    recorder = Recorder()
    controller = Controller(
        recorder,
        hostname="127.0.0.1",
        port=free_port(),
        ssl_context=server_context(certificate),
        authenticator=recorder.authenticate,
        auth_require_tls=False,  # the whole connection is TLS; aiosmtpd checks STARTTLS only
    )
    controller.start()
    try:
        yield recorder, controller.port
    finally:
        controller.stop()


def a_message() -> object:
    p = Pipeline(
        parse_subscriptions(
            {"routes": [{"name": "r", "receivers": {"email": ["ops@x.org"]}, "group_wait": "0s"}]}
        )
    )
    now = c.utcnow()
    labels = c.AlertLabels(
        org_id="1023600000001", org_name="Школа №1", founder="", municipality="Борисоглеб",
        sphere="education", level="municipal", platform="vk", page_id="1",
        page_url="https://vk.com/club1", rule="STALE", severity="high",
    )  # fmt: skip
    p.ingest(
        c.ViolationOpened.create(
            violation_id="v1", labels=labels, summary="", observed_at=now, opened_at=now
        ),
        now,
    )
    [note] = p.due(now + timedelta(seconds=1))
    return mail.render(note, Settings(_env_file=None), now)


def smtp(port: int, certificate, **extra) -> Settings:
    fields = {
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "smtp_user": "monitor",
        "smtp_password": PASSWORD,
        "smtp_ca_file": certificate[0],
        "smtp_timeout_s": 5,
        "smtp_retry_backoff_s": 0.01,
        "smtp_max_attempts": 2,
    }
    fields.update(extra)
    return Settings(_env_file=None, **fields)


async def test_starttls_and_auth(starttls_server, certificate) -> None:
    recorder, port = starttls_server
    result = await mail.send(smtp(port, certificate, smtp_starttls=True), a_message())
    assert result.ok, result
    assert recorder.logins == ["monitor"]
    [(content, tls)] = recorder.accepted
    assert tls and b"Subject:" in content


async def test_starttls_refuses_an_untrusted_certificate(starttls_server, certificate) -> None:
    recorder, port = starttls_server
    result = await mail.send(
        smtp(port, certificate, smtp_starttls=True, smtp_ca_file=None), a_message()
    )
    assert not result.ok and "CERTIFICATE_VERIFY_FAILED" in result.error
    assert recorder.accepted == [] and recorder.logins == []


async def test_a_server_requiring_starttls_refuses_plain_text(starttls_server, certificate) -> None:
    recorder, port = starttls_server
    result = await mail.send(smtp(port, certificate, smtp_user=""), a_message())
    assert not result.ok and result.code == 530  # "Must issue a STARTTLS command first"
    assert recorder.accepted == []


async def test_implicit_tls_and_auth(implicit_tls_server, certificate) -> None:
    recorder, port = implicit_tls_server
    result = await mail.send(smtp(port, certificate, smtp_ssl=True), a_message())
    assert result.ok, result
    assert recorder.logins == ["monitor"]
    [(_, tls)] = recorder.accepted
    assert tls


async def test_implicit_tls_wrong_password(implicit_tls_server, certificate) -> None:
    recorder, port = implicit_tls_server
    settings = smtp(port, certificate, smtp_ssl=True, smtp_password="wrong-Pa55word")
    result = await mail.send(settings, a_message())
    assert not result.ok and result.code == 535 and result.attempts == 1
    assert "wrong-Pa55word" not in result.error and recorder.accepted == []
