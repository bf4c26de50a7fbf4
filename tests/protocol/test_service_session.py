"""The service-side session states: the move table and the hub following it."""

from __future__ import annotations

import pytest

from wpsnb.protocol.service_session import SESSION_MOVES, SessionState, check_move

ALLOWED = [(current, new) for current, moves in SESSION_MOVES.items() for new in moves]
REFUSED = [(current, new) for current in SessionState for new in SessionState if new not in SESSION_MOVES[current]]


def test_every_state_has_a_row() -> None:
    assert set(SESSION_MOVES) == set(SessionState)


@pytest.mark.parametrize(("current", "new"), ALLOWED)
def test_allowed_moves(current: SessionState, new: SessionState) -> None:
    assert check_move(current, new) is new


@pytest.mark.parametrize(("current", "new"), REFUSED)
def test_refused_moves_fail_loudly(current: SessionState, new: SessionState) -> None:
    with pytest.raises(RuntimeError, match=f"from {current.value} to {new.value}"):
        check_move(current, new)


def test_closed_is_final_and_states_compare_as_their_names() -> None:
    assert SESSION_MOVES[SessionState.CLOSED] == frozenset()
    assert [str(s) for s in SessionState] == ["connecting", "connected", "detached", "closed"]
    assert SessionState.DETACHED == "detached"
