"""The kernel-side Web PubSub client: :class:`Client` (threads) and :class:`AsyncClient` (asyncio).

>>> from wpsnb.client import Client, AsyncClient, Journal
"""

from __future__ import annotations

from .connection import STATES, AsyncClient
from .journal import Frame, Journal
from .sync import Client

__all__ = ["STATES", "AsyncClient", "Client", "Frame", "Journal"]
