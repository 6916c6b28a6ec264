"""Connecting to NATS: credentials and TLS, one log line per change of the connection, and the
deadline every await on the network gets (``within``)."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable
from typing import Any, TypeVar

import nats
from nats.aio.client import Client

from gospublic.settings import Settings

log = logging.getLogger("gospublic.bus")

T = TypeVar("T")


def tls_context(settings: Settings, url: str = "") -> ssl.SSLContext | None:
    """The client TLS context the settings ask for; None for a plain connection."""
    wanted = settings.nats_tls_ca_file or settings.nats_tls_cert_file or url.startswith("tls://")
    if not wanted:
        return None
    context = ssl.create_default_context(
        cafile=str(settings.nats_tls_ca_file) if settings.nats_tls_ca_file else None
    )
    if settings.nats_tls_cert_file:
        context.load_cert_chain(
            str(settings.nats_tls_cert_file),
            str(settings.nats_tls_key_file) if settings.nats_tls_key_file else None,
        )
    return context


def connect_options(settings: Settings, url: str = "") -> dict[str, Any]:
    """Credentials and TLS for nats-py; never logged. (Credentials in the URL work as well.)"""
    options: dict[str, Any] = {}
    if settings.nats_user:
        options["user"] = settings.nats_user
        options["password"] = settings.nats_password.get_secret_value()
    if settings.nats_token.get_secret_value():
        options["token"] = settings.nats_token.get_secret_value()
    context = tls_context(settings, url)
    if context is not None:
        options["tls"] = context
    return options


def broker_security(settings: Settings, url: str = ""):
    """The same credentials and TLS in FastStream's terms (it takes no ``user=`` of its own), for
    a FastStream broker that publishes (consuming goes through ``bus.Consumer``)."""
    from faststream.nats import NatsSecurity, NatsToken, NatsUserPassword

    context = tls_context(settings, url)
    if settings.nats_user:
        return NatsUserPassword(
            settings.nats_user, settings.nats_password.get_secret_value(), ssl_context=context
        )
    if settings.nats_token.get_secret_value():
        return NatsToken(settings.nats_token.get_secret_value(), ssl_context=context)
    if context is not None:
        return NatsSecurity(ssl_context=context)
    return None


class ConnectionLog:
    """One log line per change of the connection instead of a traceback per reconnect attempt.

    Left alone, nats-py logs every failed attempt (two a second while the server is away) at
    ERROR with a traceback; an operator needs to know when the connection went, why, and when it
    came back.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.client: Client | None = None
        self.failed_attempts = 0
        self.last_error = ""

    async def error(self, exc: Exception) -> None:
        text = f"{type(exc).__name__}: {exc}"[:300]
        self.failed_attempts += 1
        if text != self.last_error:
            self.last_error = text
            log.warning("nats client error", extra={"client": self.name, "error": text})

    async def disconnected(self) -> None:
        if self.client is not None and self.client.is_closed:  # our own close()
            log.debug("nats connection closed", extra={"client": self.name})
        else:
            log.warning("nats disconnected, reconnecting", extra={"client": self.name})

    async def reconnected(self) -> None:
        log.info(
            "nats reconnected",
            extra={"client": self.name, "failed_attempts": self.failed_attempts},
        )
        self.failed_attempts, self.last_error = 0, ""


async def connect(url: str, settings: Settings, name: str) -> Client:
    events = ConnectionLog(name)
    events.client = await nats.connect(
        url,
        name=name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        error_cb=events.error,
        disconnected_cb=events.disconnected,
        reconnected_cb=events.reconnected,
        **connect_options(settings, url),
    )
    return events.client


class NetworkTimeout(TimeoutError):
    """An await on the network that ran out of its deadline (``within``)."""


async def within(awaitable: Awaitable[T], seconds: float, what: str) -> T:
    """Await ``awaitable`` for at most ``seconds``; past that, raise ``NetworkTimeout`` naming it.

    Every await on the network has a deadline: a reply that never comes (its connection was
    replaced by a reconnect, the server is gone) otherwise holds its caller for ever. nats-py's
    own requests time out; what it does not bound (a ``drain``, a subscription's ``unsubscribe``
    during a reconnect, a consumer's stop) goes through here.

    The deadline is hard: past it the wait is cancelled and left to end on its own, where
    ``asyncio.wait_for`` waits for the cancelled wait to finish (nats-py's ``drain`` took 10 s
    more to give up, and held a collector's stop).
    """
    task = asyncio.ensure_future(awaitable)
    try:
        done, _ = await asyncio.wait({task}, timeout=seconds)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if not done:
        task.cancel()
        task.add_done_callback(_retrieve)
        raise NetworkTimeout(f"{what}: no answer in {seconds:g} s")
    return task.result()


def _retrieve(task: asyncio.Future) -> None:
    """Read the outcome of a wait given up on, so asyncio does not log it as never retrieved."""
    if not task.cancelled():
        task.exception()


def make_broker(url: str, settings: Settings, name: str):
    """A FastStream broker on the same server, for publishing (the push receiver's); per-message
    logs go to DEBUG, not INFO.

    Not for consuming: every consumer reads JetStream through ``bus.Consumer``. FastStream's pull
    subscriber (faststream 0.7.8) catches ``nats.errors.TimeoutError`` around nats-py's ``fetch``,
    which in nats-py 2.16 may raise the builtin ``TimeoutError`` instead; its pull task then
    restarts and the abandoned request's messages wait out ``ack_wait``.
    """
    from faststream.nats import NatsBroker

    return NatsBroker(
        url,
        name=name,
        log_level=logging.DEBUG,
        logger=logging.getLogger("faststream"),
        max_reconnect_attempts=-1,
        security=broker_security(settings, url),
    )
