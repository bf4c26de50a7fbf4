"""Building a client's requests: check the arguments, give each an ackId, encode it once.

Everything here is pure and thread-safe, so a request is built (and a bad argument refused, with a
message saying how to fix it) in the caller's thread, before it reaches the event loop. It also
words what goes wrong with a request afterwards: a refusal in its ack, or no answer in time.

Example::

    >>> requests = RequestMaker(reliable=True)
    >>> requests.send_to_group("lab", {"loss": 0.1}, None, no_echo=False, ack=False).frame
    '{"type":"sendToGroup","group":"lab","ackId":1,"dataType":"json","data":{"loss":0.1},"noEcho":false}'
    >>> requests.join_group("", ack=True)
    Traceback (most recent call last):
    ...
    ValueError: group name is empty; ...
"""

from __future__ import annotations

import itertools
from typing import Any

from ..errors import Forbidden, RequestFailed
from ..protocol.client_codec import encode_client_message
from ..protocol.frame_fields import InvalidMessage
from ..protocol.json_codec import parse_client_message
from ..protocol.limits import MAX_FRAME_BYTES, MAX_TTL_SECONDS, frame_size_over_limit
from ..protocol.messages import (
    Ack,
    CancelInvocation,
    ClientMessage,
    Invoke,
    JoinGroup,
    LeaveGroup,
    SendEvent,
    SendToGroup,
    payload_type,
)
from ..protocol.metadata import check_metadata
from ..protocol.names import group_name_problem
from ..protocol.pending_requests import PendingRequest
from ..protocol.stream_codec import encode_invoke


class RequestMaker:
    """Checked, encoded requests with ackIds from one counter (one per client).

    On the reliable protocol every request gets an ackId, even fire-and-forget ones, so a request
    caught in a drop can be resent without being carried out twice.
    """

    __slots__ = ("reliable", "_ack_ids", "_invocation_ids")

    def __init__(self, reliable: bool):
        self.reliable = reliable
        self._ack_ids = itertools.count(1)  # next() on a count is atomic: any thread may build
        self._invocation_ids = itertools.count(1)

    def join_group(self, group: str, ack: bool) -> PendingRequest:
        """A joinGroup request."""
        _check_group(group)
        return _encode(JoinGroup(group, self._ack_id(ack)))

    def leave_group(self, group: str, ack: bool) -> PendingRequest:
        """A leaveGroup request."""
        _check_group(group)
        return _encode(LeaveGroup(group, self._ack_id(ack)))

    def send_to_group(
        self,
        group: str,
        data: Any,
        data_type: str | None,
        no_echo: bool,
        ack: bool,
        metadata: dict[str, str] | None = None,
        ttl_seconds: int | None = None,
    ) -> PendingRequest:
        """A sendToGroup request (``metadata`` and ``ttl_seconds`` checked by the service's rules first)."""
        _check_group(group)
        data_type = _data_type(data, data_type)
        message = SendToGroup(
            group, data, data_type, self._ack_id(ack), bool(no_echo), _checked_metadata(metadata), _ttl(ttl_seconds)
        )
        return _encode(message)

    def send_event(
        self, event: str, data: Any, data_type: str | None, ack: bool, metadata: dict[str, str] | None = None
    ) -> PendingRequest:
        """An event request (checked against the codec's rules: a bad name would close the connection)."""
        data_type = _data_type(data, data_type)
        request = _encode(SendEvent(event, data, data_type, self._ack_id(ack), _checked_metadata(metadata)))
        try:
            parse_client_message(request.frame)
        except InvalidMessage as exc:
            raise ValueError(str(exc)) from None
        return request

    def invoke(self, event: str, data: Any, data_type: str | None) -> PendingRequest:
        """An invoke request with a new invocationId (no data when ``data`` is ``None``)."""
        invocation_id = str(next(self._invocation_ids))
        message = (
            Invoke(invocation_id, event)
            if data is None
            else Invoke(invocation_id, event, data, _data_type(data, data_type))
        )
        request = PendingRequest(message, encode_invoke(message))
        try:
            parse_client_message(request.frame)  # a bad event name would close the connection
        except InvalidMessage as exc:
            raise ValueError(str(exc)) from None
        return request

    def cancel_invocation(self, invocation_id: str) -> PendingRequest:
        """Tell the service nobody waits for ``invocation_id`` any more."""
        message = CancelInvocation(invocation_id)
        return PendingRequest(message, encode_invoke(message))

    def _ack_id(self, ack: bool) -> int | None:
        return next(self._ack_ids) if ack or self.reliable else None


def describe(message: ClientMessage) -> str:
    """A request in a few words, for error messages.

    >>> describe(JoinGroup("lab", 1))
    "joinGroup 'lab'"
    """
    if isinstance(message, (JoinGroup, LeaveGroup, SendToGroup)):
        return f"{message.type} {message.group!r}"
    if isinstance(message, SendEvent):
        return f"event {message.event!r}"
    return message.type


def request_failed(ack: Ack, message: ClientMessage) -> RequestFailed:
    """The error for a request the service refused (:class:`~wpsnb.errors.Forbidden` for a missing role).

    >>> from wpsnb.protocol.messages import AckError
    >>> request_failed(Ack(3, False, AckError("Forbidden", "no role")), JoinGroup("ops", 3))
    Forbidden("joinGroup 'ops' was refused: no role")
    """
    name = ack.error.name if ack.error else "Unknown"
    said = ack.error.message if ack.error else "no error details"
    what = describe(message)
    if name == "Forbidden":
        return Forbidden(
            f"{what} was refused: {said}", name=name, service_message=said, ack_id=ack.ack_id, request=message
        )
    return RequestFailed(
        f"{what} failed with {name}: {said}", name=name, service_message=said, ack_id=ack.ack_id, request=message
    )


def ack_timeout_message(message: ClientMessage, timeout: float, state: str) -> str:
    """What an :class:`~wpsnb.errors.AckTimeout` says.

    >>> ack_timeout_message(JoinGroup("lab", 1), 2, "recovering")[:52]
    "no answer to joinGroup 'lab' within 2 s (client reco"
    """
    return (
        f"no answer to {describe(message)} within {timeout:g} s (client {state}); it stays queued and "
        "may still be delivered. Pass a larger timeout=, or check the connection (client.state)"
    )


def settle(waiter: Any, result: Any = None, *, error: BaseException | None = None) -> None:
    """Resolve an ``asyncio`` or ``concurrent.futures`` future unless it is already done (or ``None``).

    >>> import concurrent.futures
    >>> future = concurrent.futures.Future()
    >>> settle(future, 5); settle(future, 6); future.result()
    5
    """
    if waiter is None or waiter.done():
        return
    if error is not None:
        waiter.set_exception(error)
    else:
        waiter.set_result(result)


def _encode(message: ClientMessage) -> PendingRequest:
    try:
        frame = encode_client_message(message)
    except TypeError as exc:
        if getattr(message, "data_type", None) == "json":
            raise TypeError(
                f"data is not JSON-serialisable ({exc}); convert it, or pass data_type='text' or 'binary'"
            ) from None
        raise
    except ValueError as exc:  # NaN or infinity in json data
        raise ValueError(f"data cannot be sent as JSON ({exc}); JSON has no NaN or Infinity") from None
    if frame_size_over_limit(frame):
        raise ValueError(
            f"this message is {len(frame.encode('utf-8'))} bytes as a frame; the service accepts at "
            f"most {MAX_FRAME_BYTES} bytes (1 MB) per frame and would close the connection. "
            "Split it into smaller messages."
        )
    return PendingRequest(message, frame)


def _checked_metadata(metadata: dict[str, str] | None) -> dict[str, str] | None:
    """The metadata if the service will take it; ``ValueError`` (not a closed connection) otherwise."""
    if not metadata:
        return None
    if not isinstance(metadata, dict):
        raise TypeError(f"metadata must be a dict of str to str, got {type(metadata).__name__}")
    return check_metadata(metadata.items())


def _ttl(ttl_seconds: int | None) -> int | None:
    if ttl_seconds is None:
        return None
    if not isinstance(ttl_seconds, int) or isinstance(ttl_seconds, bool) or not 0 <= ttl_seconds <= MAX_TTL_SECONDS:
        raise ValueError(
            f"ttl_seconds must be an integer from 0 to {MAX_TTL_SECONDS} (0: never expires), got {ttl_seconds!r}"
        )
    return ttl_seconds


def _check_group(group: Any) -> None:
    problem = group_name_problem(group)
    if problem:
        raise ValueError(problem)


def _data_type(data: Any, data_type: str | None) -> str:
    data_type = payload_type(data, data_type, name="data_type")
    if data_type == "json" and data is None:
        raise ValueError("data is None: the service rejects null JSON data; send a value, or data_type='text'")
    return data_type


__all__ = ["RequestMaker", "ack_timeout_message", "describe", "request_failed", "settle"]
