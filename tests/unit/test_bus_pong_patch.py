"""The replacement of nats-py's ``Client._process_pong``: installed only on releases it was checked
against, refused loudly on others, skipped on a release that fixes the bug itself."""

from __future__ import annotations

import asyncio

import nats.aio.client
import pytest
from nats.aio.client import Client

from gospublic import bus


def test_the_installed_release_is_patched_for_every_connection() -> None:
    assert nats.aio.client.__version__ in bus.NATS_PY_PATCHED
    assert Client._process_pong is bus._process_pong_once


def test_a_release_not_checked_is_refused_naming_it() -> None:
    class Untouched(Client):
        pass

    original = Untouched._process_pong
    with pytest.raises(bus.UnverifiedNatsClient, match=r"nats-py 9\.0\.0 .*2\.16\.0"):
        bus.patch_process_pong(Untouched, "9.0.0")
    assert Untouched._process_pong is original


def test_a_release_that_fixes_the_bug_is_left_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    class Fixed(Client):
        async def _process_pong(self) -> None:  # stands for the release's own fixed method
            pass

    original = Fixed._process_pong
    monkeypatch.setattr(bus.natspatch, "NATS_PY_FIXED", frozenset({"9.0.0"}))
    assert bus.patch_process_pong(Fixed, "9.0.0") is False
    assert Fixed._process_pong is original


def test_a_checked_release_gets_the_replacement() -> None:
    class Checked(Client):
        pass

    assert bus.patch_process_pong(Checked, "2.16.0") is True
    assert Checked._process_pong is bus._process_pong_once


async def test_the_pong_of_a_flush_given_up_on_is_passed_over() -> None:
    class Pongs:
        def __init__(self) -> None:
            loop = asyncio.get_running_loop()
            self.given_up, self.waiting = loop.create_future(), loop.create_future()
            self.given_up.cancel()  # what nats-py's flush does when its timeout runs out
            self._pongs = [self.given_up, self.waiting]
            self._pongs_received = 0
            self._pings_outstanding = 1

    client = Pongs()
    await bus._process_pong_once(client)  # nats-py's own raises InvalidStateError here
    await bus._process_pong_once(client)
    assert client.waiting.result() is True
    assert (client._pongs, client._pongs_received, client._pings_outstanding) == ([], 2, 0)
