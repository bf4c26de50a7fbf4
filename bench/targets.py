"""The servers under test as the load generator reaches them: who subscribes where, and what a
publisher sends to put one 256-byte text message into a group.

A :class:`Target` is a set of subscriber sockets in one or more groups plus the publisher sockets,
for either the wpsnb service (on ``json.webpubsub.azure.v1`` or the reliable subprotocol, with
client access URLs minted by the official SDK) or the bare aiohttp baseline server. Both kinds
expose the same operations, so every benchmark runs them the same way.

Example::

    target = await Target.service(server, PLAIN, groups=1, subscribers=100)
    target.publish(target.burst(1000))       # 1000 messages -> 100,000 deliveries
    await target.close()
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from azure.messaging.webpubsubservice import WebPubSubServiceClient

from .servers import ServerProcess
from .wsraw import RawSocket, client_frame, open_socket, open_sockets

PLAIN = "json.webpubsub.azure.v1"
RELIABLE = "json.reliable.webpubsub.azure.v1"
PAYLOAD_SIZE = 256
LOG_LINE = b"epoch 3 step 1200/5000 loss=0.4182 acc=0.8731 lr=3.0e-04 grad_norm=1.27 tokens/s=48213 gpu_mem=11.2GiB "
BURST_PAYLOAD = (LOG_LINE * 3)[:PAYLOAD_SIZE]


def service_url(server: ServerProcess, hub: str, *, roles: tuple[str, ...] = (), groups: tuple[str, ...] = ()) -> str:
    """A client access URL for the local service, minted by the official server SDK."""
    client = WebPubSubServiceClient.from_connection_string(server.connection_string, hub=hub)  # type: ignore[arg-type]
    return client.get_client_access_token(roles=list(roles), groups=list(groups))["url"]


def send_to_group_frame(group: str, payload: bytes) -> bytes:
    """The masked client frame of a fire-and-forget ``sendToGroup`` of a text payload."""
    return client_frame(
        b'{"type":"sendToGroup","group":"%s","dataType":"text","data":"%s"}' % (group.encode(), payload)
    )


@dataclass
class Target:
    """Subscribers and publishers on one server; message *i* goes to group ``i % len(groups)``."""

    label: str
    groups: list[str]
    subscribers: list[RawSocket]
    # per group: the socket that publishes to it and how to turn a payload into the frame it sends
    publishers: list[RawSocket]
    encode: Callable[[str, bytes], bytes]
    per_group: int = 0

    @classmethod
    async def service(
        cls, server: ServerProcess, protocol: str, *, groups: int, subscribers: int, hub: str | None = None
    ) -> Target:
        """Subscribers joined through their token's group claim; one publisher for every group."""
        hub = hub or ("bench_reliable" if protocol == RELIABLE else "bench_plain")
        names = [f"g{k}" for k in range(groups)]
        per_group = subscribers // groups
        subs: list[RawSocket] = []
        for name in names:
            url = service_url(server, hub, groups=(name,))
            subs += await open_sockets(url, per_group, protocol, ack=protocol == RELIABLE)
        publisher = await open_socket(service_url(server, hub, roles=("webpubsub.sendToGroup",)), PLAIN)
        label = "reliable" if protocol == RELIABLE else "plain"
        return cls(label, names, subs, [publisher] * groups, send_to_group_frame, per_group)

    @classmethod
    async def baseline(cls, server: ServerProcess, *, groups: int, subscribers: int) -> Target:
        """The bare server: subscribers on ``/sub?group=``, one publisher socket per group."""
        base = f"ws://127.0.0.1:{server.port}"
        names = [f"g{k}" for k in range(groups)]
        per_group = subscribers // groups
        subs: list[RawSocket] = []
        for name in names:
            subs += await open_sockets(f"{base}/sub?group={name}", per_group)
        publishers = [await open_socket(f"{base}/pub?group={name}") for name in names]
        return cls("baseline", names, subs, publishers, lambda _group, payload: client_frame(payload), per_group)

    def burst(self, messages: int, payload: bytes = BURST_PAYLOAD, *, first: int = 0) -> dict[RawSocket, bytes]:
        """Frames for messages ``first`` .. ``first + messages - 1``, rotating over the groups,
        joined per publisher socket."""
        frames = [self.encode(group, payload) for group in self.groups]
        by_socket: dict[RawSocket, list[bytes]] = {}
        for i in range(first, first + messages):
            k = i % len(frames)
            by_socket.setdefault(self.publishers[k], []).append(frames[k])
        return {socket: b"".join(parts) for socket, parts in by_socket.items()}

    def publish(self, blobs: dict[RawSocket, bytes]) -> None:
        """Write prepared frames, each publisher's in one call."""
        for socket, blob in blobs.items():
            socket.send_frames(blob)

    def send(self, first_index: int, payloads: list[bytes]) -> None:
        """Send messages ``first_index``, ``first_index + 1``, ... (each to group ``index % len(groups)``),
        one socket write per publisher socket."""
        by_socket: dict[RawSocket, list[bytes]] = {}
        for n, payload in enumerate(payloads):
            k = (first_index + n) % len(self.groups)
            by_socket.setdefault(self.publishers[k], []).append(self.encode(self.groups[k], payload))
        for socket, frames in by_socket.items():
            socket.send_frames(b"".join(frames))

    async def close(self) -> None:
        """Close every socket of this target."""
        for socket in {*self.subscribers, *self.publishers}:
            socket.close()
