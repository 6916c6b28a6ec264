"""The e-mail intent record: an e-mail is written to the notification log before it is sent.

An SMTP server that accepted a message cannot take it back, and a notifier that dies between the
server's 250 and the log entry would send a *new* message for the same news after a restart. So the
rendered message (with its Message-ID) is stored as an intent next to the entry it will replace;
once sent, the new entry replaces both. An intent found at start is a message that may or may not
have left: it is sent again exactly as it was, so a mail client shows it once (same Message-ID).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from .nflog import Intent
from .pipeline import LogEntry, LogKey
from .ports import LogStore

log = logging.getLogger("gospublic.notifier")


class IntentRecord:
    def __init__(
        self,
        store: LogStore,
        entry_of: Callable[[LogKey], LogEntry | None],
        pending: dict[LogKey, Intent] | None = None,
    ) -> None:
        self.store = store
        self._entry_of = entry_of  # the log entry an intent will replace
        self._pending: dict[LogKey, Intent] = dict(pending or {})

    def pending(self) -> list[tuple[LogKey, Intent]]:
        """E-mails begun before a restart and not recorded: to be sent again, as they were."""
        return list(self._pending.items())

    def done(self, key: LogKey) -> None:
        """The e-mail of a pending intent was sent again and recorded."""
        self._pending.pop(key, None)

    async def begin(self, key: LogKey, intent: Intent) -> LogEntry | None:
        """Store the intent before sending; returns the entry it replaces (for :meth:`abandon`).
        Raises when the KV bucket refuses: then the e-mail must not be sent."""
        previous = self._entry_of(key)
        await self.store.begin(key, previous, intent)
        return previous

    async def abandon(self, key: LogKey, previous: LogEntry | None) -> None:
        """The e-mail was refused: the log goes back to ``previous``, without the intent."""
        try:
            await self.store.abandon(key, previous)
        except Exception:
            # Left in place it is sent on restart: a retry the next flush would make anyway.
            log.warning("cannot take back the intent of an unsent e-mail", exc_info=True)
