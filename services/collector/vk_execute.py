"""VK's ``execute``: many API calls in one request, in batches of 25 run concurrently, each call's
outcome (a result or a failure) with the time it was received."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from gospublic import contracts as c
from services.collector.vk_client import EXECUTE_MAX_CALLS, VkError, VkGarbage, VkTransient

# Sub-call errors inside ``execute`` that say "not now" rather than "not this page".
RETRY_SUBCALL_CODES = frozenset({6, 10, 29})
NOT_NOW_CODES = frozenset({6, 29})  # about our tokens, never a page's state
SUBCALL_RETRIES = 3
RUNTIME_ERROR = 13  # the VKScript as a whole failed: split the batch to isolate the culprit


class VkApi(Protocol):
    async def call(self, method: str, params: dict[str, Any]) -> Any: ...

    async def execute(self, calls: Sequence[tuple[str, dict[str, Any]]]) -> list[Any]: ...


async def batched(
    client: VkApi, calls: list[tuple[str, dict[str, Any]]]
) -> list[tuple[Any, datetime]]:
    """Calls in ``execute`` batches of 25, run concurrently; per call (result or failure, time)."""
    batches = [calls[i : i + EXECUTE_MAX_CALLS] for i in range(0, len(calls), EXECUTE_MAX_CALLS)]
    try:
        async with asyncio.TaskGroup() as group:
            jobs = [group.create_task(_execute(client, batch)) for batch in batches]
    except BaseExceptionGroup as failed:
        # The first failure (transient or no tokens) decides the task; the rest were cancelled.
        raise failed.exceptions[0] from None
    return [outcome for job in jobs for outcome in job.result()]


async def _execute(
    client: VkApi, calls: list[tuple[str, dict[str, Any]]], attempt: int = 0
) -> list[tuple[Any, datetime]]:
    """Per call (result or failure, time received). Splits on error 13, retries "not now".

    Sub-calls refused for the rate or the quota (6, 29) go again, and the client picks a token
    that is not parked; if they are still refused after a few rounds, the task is retried later
    rather than reporting pages VK never looked at.
    """
    try:
        results: list[Any] = await client.execute(calls)
    except VkGarbage as exc:
        return [(exc, c.utcnow())] * len(calls)
    except VkError as exc:
        if exc.code == RUNTIME_ERROR and len(calls) > 1:
            half = len(calls) // 2
            return await _execute(client, calls[:half], attempt) + await _execute(
                client, calls[half:], attempt
            )
        return [(exc, c.utcnow())] * len(calls)
    observed_at = c.utcnow()
    outcomes = [(result, observed_at) for result in results]
    again = [
        i
        for i, result in enumerate(results)
        if isinstance(result, VkError) and result.code in RETRY_SUBCALL_CODES
    ]
    if again and attempt < SUBCALL_RETRIES:
        retried = await _execute(client, [calls[i] for i in again], attempt + 1)
        for i, outcome in zip(again, retried, strict=True):
            outcomes[i] = outcome
    elif again:
        codes = sorted({results[i].code for i in again} & NOT_NOW_CODES)
        if codes:
            raise VkTransient(f"{len(again)} sub-call(s) still refused with error(s) {codes}")
    return outcomes
