"""The service-wide bound on bytes waiting to be sent, summed over every connection.

Each connection has its own bound (``send_buffer_limit``, see :mod:`.writer`), but hundreds of
subscribers that stop reading can each stay just under it. Writers report what they hold beyond a
tick (frames queued plus bytes the transport has not handed to the kernel) to the service's one
:class:`OutboundBudget`; when the sum passes ``limit``, the connections holding the most unsent
bytes are closed — those that are not draining first — until the sum is back under it. A reliable
client recovers and gets what it missed replayed; readers that keep up hold next to nothing and
are never the ones closed.

A frame shared by many connections counts once per connection: the bound is on what the service
promised to send, which is what it would have to copy if the transports took it.

Example::

    budget = OutboundBudget(256 * 1024 * 1024)
    writer = FrameWriter(transport, budget=budget, on_overflow=abort)
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from .listener import RateLimitedLog

if TYPE_CHECKING:
    from .writer import FrameWriter

log = logging.getLogger("wpsnb.service")

DEFAULT_OUTBOUND_BUDGET = 256 * 1024 * 1024  # bytes, all connections together (docs/limits.md)
OVER_BUDGET = "the service's outbound budget is exhausted and this connection held the most unsent bytes"


class OutboundBudget:
    """Unsent bytes per connection, their sum, and who is closed when the sum passes ``limit``.

    >>> budget = OutboundBudget(None)
    >>> budget.total, budget.limit is None
    (0, True)
    """

    def __init__(self, limit: int | None = DEFAULT_OUTBOUND_BUDGET):
        self.limit = limit
        self.total = 0
        self.closed_connections = 0
        self._holders: dict[FrameWriter, int] = {}
        self._enforcing = False
        self._reports = RateLimitedLog()

    def update(self, writer: FrameWriter, backlog: int) -> None:
        """``writer`` now holds ``backlog`` unsent bytes (0 when it has caught up or closed)."""
        holders = self._holders
        before = holders.pop(writer, 0) if backlog == 0 else holders.get(writer, 0)
        if backlog:
            holders[writer] = backlog
        self.total += backlog - before
        if self.over and not self._enforcing:
            self._enforcing = True
            asyncio.get_running_loop().call_soon(self._enforce)

    @property
    def over(self) -> bool:
        """Whether the sum is past the limit (writers then hold large frames instead of copying them)."""
        return self.limit is not None and self.total > self.limit

    def _enforce(self) -> None:
        self._enforcing = False
        if not self.over:
            return
        # Not draining first (a reader that keeps up shrinks its backlog between two looks), largest first.
        ranked = sorted(self._holders.items(), key=lambda item: (not item[0].draining, item[1]), reverse=True)
        closed, largest = 0, ranked[0][1] if ranked else 0
        for writer, _ in ranked:
            if not self.over:
                break
            writer.over_budget(OVER_BUDGET)
            closed += 1
        self.closed_connections += closed
        held_back = self._reports.ready()
        if held_back is not None:
            log.warning(
                "outbound budget of %d MiB exceeded: closed %d connections holding the most unsent bytes "
                "(the largest held %.1f MiB)%s; reliable clients recover what they missed. Raise it with "
                "LocalService(outbound_budget=...) or wpsnb serve --outbound-budget if this is normal load",
                (self.limit or 0) // 2**20,
                closed,
                largest / 2**20,
                f" ({held_back} more times since the last report)" if held_back else "",
            )
