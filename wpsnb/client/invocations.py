"""``invoke()`` calls waiting for their ``invokeResponse``, by invocationId (moved out of ``connection``).

Example::

    >>> import asyncio
    >>> from wpsnb.client.requests import RequestMaker
    >>> async def demo():
    ...     waiting = Invocations()
    ...     request = RequestMaker(reliable=True).invoke("ask", None, None)
    ...     def answer(request):  # what the service would reply
    ...         waiting.answered(InvokeResponse(request.message.invocation_id, True, "yes", "text"))
    ...     return await waiting.call(request, "ask", 1.0, answer, lambda invocation_id: None)
    >>> asyncio.run(demo())
    'yes'
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from ..errors import AckTimeout, RequestFailed, WebPubSubError
from ..protocol.messages import InvokeResponse
from ..protocol.pending_requests import PendingRequest
from .requests import settle


class Invocations:
    """The invocations of one client waiting for an answer."""

    def __init__(self) -> None:
        self._waiting: dict[str, asyncio.Future[InvokeResponse]] = {}

    async def call(
        self,
        request: PendingRequest,
        event: str,
        timeout: float,
        submit: Callable[[PendingRequest], None],
        cancel: Callable[[str], None],
    ) -> Any:
        """Send ``request`` (an invoke) and return the handler's reply; ``cancel(id)`` after ``timeout``."""
        invocation_id = request.message.invocation_id
        answer: asyncio.Future[InvokeResponse] = asyncio.get_running_loop().create_future()
        self._waiting[invocation_id] = answer
        try:
            submit(request)
            response = await asyncio.wait_for(asyncio.shield(answer), timeout)
        except asyncio.TimeoutError:
            cancel(invocation_id)
            raise AckTimeout(
                f"invoke of event {event!r} got no answer within {timeout:g} s; it was cancelled "
                "(a handler that needs longer: pass a larger timeout)"
            ) from None
        finally:
            self._waiting.pop(invocation_id, None)
            if not answer.done():
                answer.add_done_callback(_consume)
        if not response.success:
            error = response.error
            name = error.name if error is not None else "InternalServerError"
            detail = error.message if error is not None else ""
            raise RequestFailed(
                f"invoke of event {event!r} failed: {name}: {detail}", name=name, service_message=detail
            )
        return response.data

    def answered(self, response: InvokeResponse) -> None:
        """The service's ``invokeResponse``: the call waiting for it returns."""
        settle(self._waiting.get(response.invocation_id), response)

    def fail_all(self, error: WebPubSubError) -> None:
        """The client closed: every call still waiting raises ``error``."""
        for answer in self._waiting.values():
            settle(answer, error=error)


def _consume(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


__all__ = ["Invocations"]
