"""The notifier's retries, on tenacity: attempts with exponential backoff for its deliveries (HTTP
and SMTP), a KV write tried a few times (:func:`until_done`), a watch kept running
(:func:`restarting`).

An attempt never raises for a delivery failure: it returns its result, and the caller says which
results are worth another attempt (a timeout, a 5xx, an SMTP 4xx) and which are final (success, a
refusal that will not change). The delay before attempt ``n + 1`` is ``backoff_s * 2 ** (n - 1)``:
``backoff_s``, then doubled each time. An exception an attempt does raise (a bug, a cancellation) is
not retried and reaches the caller.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    retry_if_result,
    stop_after_attempt,
    wait_exponential,
    wait_fixed,
    wait_incrementing,
)

Result = TypeVar("Result")


async def attempts(
    attempt: Callable[[int], Awaitable[Result]],
    *,
    limit: int,
    backoff_s: float,
    again: Callable[[Result], bool],
    before_retry: Callable[[Result], None],
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> Result:
    """``attempt(1)``, ``attempt(2)``… until a result ``again`` says is final or ``limit`` attempts
    are made; the last result. ``before_retry`` sees each result that is attempted again (to log
    it) before the pause."""
    numbers = itertools.count(1)

    def last_result(state: RetryCallState) -> Result:
        assert state.outcome is not None
        return state.outcome.result()

    retrying = AsyncRetrying(
        stop=stop_after_attempt(limit),
        wait=wait_exponential(multiplier=backoff_s, exp_base=2, min=0),
        retry=retry_if_result(again),
        before_sleep=lambda state: before_retry(last_result(state)),
        retry_error_callback=last_result,  # attempts used up: the last result, not RetryError
        sleep=sleep,
    )

    async def numbered() -> Result:  # a coroutine function: tenacity would not await a lambda's
        return await attempt(next(numbers))

    return await retrying(numbered)


async def until_done(
    call: Callable[[], Awaitable[None]],
    *,
    limit: int,
    step_s: float,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """``call()`` until it returns, at most ``limit`` times; the pause grows by ``step_s`` each
    time (``step_s``, ``2 * step_s``…). For writes that either work or raise (a KV put): the last
    attempt's exception reaches the caller."""
    retrying = AsyncRetrying(
        stop=stop_after_attempt(limit),
        wait=wait_incrementing(start=step_s, increment=step_s),
        reraise=True,
        sleep=sleep,
    )
    async for attempt in retrying:
        with attempt:
            await call()


async def restarting(
    call: Callable[[], Awaitable[None]],
    *,
    pause_s: float,
    stopped: Callable[[], bool],
    before_restart: Callable[[BaseException | None], None],
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """``call()`` again ``pause_s`` after it ends or raises, until ``stopped()`` says so; for a
    task meant to run for ever (a watch). ``before_restart`` sees the exception (None: it ended).
    A cancellation is not an ending: it reaches the caller."""

    def failure(state: RetryCallState) -> BaseException | None:
        assert state.outcome is not None
        return state.outcome.exception()

    retrying = AsyncRetrying(
        stop=lambda state: stopped(),
        wait=wait_fixed(pause_s),
        # tenacity sees a cancellation as an outcome too: it must end the task, not restart it.
        retry=retry_if_exception(lambda exc: not isinstance(exc, asyncio.CancelledError))
        | retry_if_result(lambda result: True),
        before_sleep=lambda state: before_restart(failure(state)),
        retry_error_callback=lambda state: None,  # stopped: end quietly
        sleep=sleep,
    )
    await retrying(call)
