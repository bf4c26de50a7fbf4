"""``drop_connection()``: a simulated network failure, and what each subprotocol does about it."""

from __future__ import annotations

from collections.abc import Callable

from client_helpers import wait_until

from wpsnb.client import Client
from wpsnb.protocol.messages import PLAIN_PROTOCOL


def test_a_reliable_client_recovers_the_same_session_and_loses_nothing(
    make_client: Callable[..., Client], group: str
) -> None:
    watcher = make_client(user_id="watcher")
    watcher.join_group(group)
    publisher = make_client(user_id="publisher")
    states: list[str] = []
    watcher.on_state(states.append)
    connection_id = watcher.connection_id

    assert watcher.drop_connection() is True
    for n in range(200):
        publisher.send_to_group(group, n, data_type="json", ack=False)
    publisher.flush()

    received = [m.data for m in watcher.messages(timeout=2)]
    assert received == list(range(200))
    wait_until(lambda: watcher.state == "connected", what="watcher connected again")
    assert watcher.connection_id == connection_id  # recovered, not a brand-new connection
    assert "recovering" in states and "reconnecting" not in states


def test_a_plain_client_gets_a_new_connection_and_keeps_its_groups(
    make_client: Callable[..., Client], group: str
) -> None:
    watcher = make_client(user_id="watcher", protocol=PLAIN_PROTOCOL)
    watcher.join_group(group)
    first_id = watcher.connection_id

    assert watcher.drop_connection() is True
    wait_until(
        lambda: watcher.state == "connected" and watcher.connection_id != first_id, what="a brand-new plain connection"
    )
    publisher = make_client(user_id="publisher")
    publisher.send_to_group(group, "after the drop", data_type="text")
    assert [m.data for m in watcher.messages(timeout=2)] == ["after the drop"]


def test_dropping_a_closed_client_is_a_no_op(make_client: Callable[..., Client]) -> None:
    client = make_client()
    client.close()
    assert client.drop_connection() is False
