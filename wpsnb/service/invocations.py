"""``invoke``: a client calls a user event handler and waits for its answer (``invokeResponse``).

An invocation is the user event of the upstream path (``upstream.py``) with a correlation id: the handler's
reply becomes the ``invokeResponse`` data instead of a ``from: server`` message. Invocations of one connection
run concurrently (the JS client keeps several in flight), each as a task kept on the session, so a
``cancelInvocation`` can stop one and a session that ends stops them all. No answer goes out for a cancelled
invocation: the client has stopped waiting for it.

Example (what ``WebPubSubClient.invokeEvent("ask", {"q": 1}, "json")`` sends)::

    {"type":"invoke","invocationId":"1","target":"event","event":"ask","dataType":"json","data":{"q":1}}
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from ..protocol.cloud_events import UpstreamError, UpstreamTimeout
from ..protocol.messages import AckError, CancelInvocation, Invoke, InvokeResponse
from ..protocol.stream_codec import encode_invoke_response

if TYPE_CHECKING:
    from .hub import Session

log = logging.getLogger("wpsnb.service")

MAX_PENDING_INVOCATIONS = 100  # per connection; more are refused with BadRequest


def invoke(session: Session, message: Invoke) -> None:
    """Start one invocation (or answer at once why it cannot run)."""
    upstream = session.hub.service.upstream
    if upstream is None or not upstream.handles(session.hub.name, message.event):
        _answer(
            session,
            message.invocation_id,
            "InternalServerError",
            f"No event handler is configured for event '{message.event}' in hub '{session.hub.name}'. "
            "Configure one (LocalService(event_handlers=...) or wpsnb serve --event-handler).",
        )
        return
    pending = session.invocations
    if pending is None:
        pending = session.invocations = {}
    if message.invocation_id in pending:
        _answer(session, message.invocation_id, "BadRequest", "this invocationId is already waiting for an answer")
        return
    if len(pending) >= MAX_PENDING_INVOCATIONS:
        _answer(
            session,
            message.invocation_id,
            "BadRequest",
            f"this connection already waits for {MAX_PENDING_INVOCATIONS} invocations; await some first",
        )
        return
    task = asyncio.get_running_loop().create_task(_run(session, message))
    pending[message.invocation_id] = task
    task.add_done_callback(lambda _: pending.pop(message.invocation_id, None))


def cancel_invocation(session: Session, message: CancelInvocation) -> None:
    """Stop waiting for the handler's answer; unknown or finished ids are ignored."""
    task = None if session.invocations is None else session.invocations.pop(message.invocation_id, None)
    if task is not None:
        task.cancel()


def cancel_all_invocations(session: Session) -> None:
    """The session ended for good: nobody waits for its invocations any more."""
    for task in list((session.invocations or {}).values()):
        task.cancel()
    session.invocations = None


async def _run(session: Session, message: Invoke) -> None:
    upstream = session.hub.service.upstream
    assert upstream is not None
    try:
        data_type = message.data_type or "text"
        reply = await upstream.user_event(
            session, message.event, data_type, "" if message.data_type is None else message.data
        )
    except UpstreamTimeout as exc:
        _answer(session, message.invocation_id, "Timeout", f"The event handler did not answer in time: {exc}")
        return
    except UpstreamError as exc:
        _answer(session, message.invocation_id, "InternalServerError", f"The event handler failed: {exc}")
        return
    if reply is None:
        response = InvokeResponse(message.invocation_id, True)
    else:
        response = InvokeResponse(message.invocation_id, True, reply.data, reply.data_type)
    session.send_frame(encode_invoke_response(response))


def _answer(session: Session, invocation_id: str, name: str, reason: str) -> None:
    log.debug("invocation %s of %s failed: %s %s", invocation_id, session.connection_id, name, reason)
    session.send_frame(encode_invoke_response(InvokeResponse(invocation_id, False, error=AckError(name, reason))))
