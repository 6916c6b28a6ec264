"""``retry.attempts``: how many attempts, which results are tried again, the pauses between."""

from __future__ import annotations

import asyncio
import time

import pytest

from services.notifier import retry


class Outcomes:
    """Attempts that return the given results in turn, noting each attempt's number and time."""

    def __init__(self, *results: str) -> None:
        self.results = list(results)
        self.numbers: list[int] = []
        self.times: list[float] = []

    async def __call__(self, number: int) -> str:
        self.numbers.append(number)
        self.times.append(time.monotonic())
        await asyncio.sleep(0)
        return self.results[len(self.numbers) - 1]


def temporary(result: str) -> bool:
    return result == "busy"


async def test_temporary_failures_are_tried_again_with_doubling_pauses() -> None:
    attempt, retried, pauses = Outcomes("busy", "busy", "busy", "ok"), [], []

    async def pause(seconds: float) -> None:
        pauses.append(seconds)

    result = await retry.attempts(
        attempt, limit=5, backoff_s=0.5, again=temporary, before_retry=retried.append, sleep=pause
    )
    assert result == "ok" and attempt.numbers == [1, 2, 3, 4]
    assert retried == ["busy", "busy", "busy"] and pauses == [0.5, 1.0, 2.0]


async def test_the_pause_is_real_time_by_default() -> None:
    attempt = Outcomes("busy", "ok")
    await retry.attempts(
        attempt, limit=2, backoff_s=0.1, again=temporary, before_retry=lambda _: None
    )
    assert attempt.times[1] - attempt.times[0] >= 0.09


async def test_the_last_result_is_returned_when_the_attempts_are_used_up() -> None:
    attempt = Outcomes("busy", "busy", "busy")
    result = await retry.attempts(
        attempt, limit=2, backoff_s=0, again=temporary, before_retry=lambda _: None
    )
    assert result == "busy" and attempt.numbers == [1, 2]


async def test_a_final_failure_is_not_tried_again() -> None:
    attempt = Outcomes("refused", "ok")
    result = await retry.attempts(
        attempt, limit=5, backoff_s=0, again=temporary, before_retry=lambda _: None
    )
    assert result == "refused" and attempt.numbers == [1]


async def test_an_exception_is_not_retried_and_reaches_the_caller() -> None:
    calls = []

    async def broken(number: int) -> str:
        calls.append(number)
        raise ValueError("a bug, not a delivery failure")

    with pytest.raises(ValueError, match="a bug"):
        await retry.attempts(broken, limit=3, backoff_s=0, again=temporary, before_retry=print)
    assert calls == [1]


async def test_until_done_tries_again_after_growing_pauses_then_raises_the_last_error() -> None:
    calls, pauses = [], []

    async def pause(seconds: float) -> None:
        pauses.append(seconds)

    async def failing() -> None:
        calls.append(len(calls) + 1)
        raise ConnectionError(f"down {len(calls)}")

    with pytest.raises(ConnectionError, match="down 3"):
        await retry.until_done(failing, limit=3, step_s=0.2, sleep=pause)
    assert calls == [1, 2, 3]
    assert pauses == pytest.approx([0.2, 0.4])


async def test_until_done_stops_at_the_first_success() -> None:
    calls = []

    async def flaky() -> None:
        calls.append(1)
        if len(calls) < 2:
            raise ConnectionError("down")

    async def pause(seconds: float) -> None:
        pass

    await retry.until_done(flaky, limit=5, step_s=0.2, sleep=pause)
    assert len(calls) == 2


async def test_restarting_runs_again_after_an_error_or_an_end_until_stopped() -> None:
    runs, seen, pauses = [], [], []

    async def pause(seconds: float) -> None:
        pauses.append(seconds)

    async def watch() -> None:
        runs.append(1)
        if len(runs) == 1:
            raise ConnectionError("watch broke")
        # the second run ends by itself, the third is the last

    await retry.restarting(
        watch,
        pause_s=1.0,
        stopped=lambda: len(runs) >= 3,
        before_restart=seen.append,
        sleep=pause,
    )
    assert len(runs) == 3
    assert [type(e).__name__ if e else None for e in seen] == ["ConnectionError", None]
    assert pauses == [1.0, 1.0]


async def test_restarting_lets_a_cancellation_through() -> None:
    async def forever() -> None:
        await asyncio.sleep(3600)

    task = asyncio.create_task(
        retry.restarting(forever, pause_s=1.0, stopped=lambda: False, before_restart=print)
    )
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
