"""LineSplitter: what a program writes, cut into complete lines and throttled updates of the line in progress."""

from __future__ import annotations

import pytest
from tqdm import tqdm

from wpsnb.publishing.lines import LineSplitter, OutputLine, no_line_longer_than


def wires(lines: list[OutputLine]) -> list[str]:
    return [line.wire for line in lines]


def test_print_hands_text_and_newline_separately_and_gets_one_line() -> None:
    splitter = LineSplitter()
    assert splitter.feed("epoch 3", now=0.0) == []
    assert splitter.pending == "epoch 3"
    assert wires(splitter.feed("\n", now=0.0)) == ["epoch 3\n"]
    assert splitter.pending is None


def test_one_write_with_many_lines_and_empty_lines() -> None:
    splitter = LineSplitter()
    assert [line.text for line in splitter.feed("a\n\nb\nc", now=0.0)] == ["a", "", "b"]
    assert splitter.pending == "c"


@pytest.mark.parametrize("chunks", [["x\r\n"], ["x\r", "\n"], ["x", "\r", "\n"]])
def test_crlf_ends_a_line_even_across_writes(chunks: list[str]) -> None:
    splitter = LineSplitter()
    lines = [line for chunk in chunks for line in splitter.feed(chunk, now=0.0)]
    assert wires(lines) == ["x\n"]


def test_carriage_return_replaces_the_line_in_progress() -> None:
    splitter = LineSplitter()
    assert wires(splitter.feed("10%\r20%\r30%\n", now=0.0)) == ["30%\n"]
    assert wires(splitter.feed("abc\r", now=0.0)) == []
    assert wires(splitter.feed("z\n", now=0.0)) == ["z\n"]


def test_a_redrawn_bar_is_published_at_most_once_per_interval_then_completed_in_place() -> None:
    splitter = LineSplitter(update_interval=0.2)
    published: list[OutputLine] = []
    for step in range(1001):  # 1001 redraws over 1 s of fake time
        published += splitter.feed(f"\r{step / 10:5.1f}%", now=step / 1000)
    published += splitter.feed("\n", now=1.0)
    updates = [line for line in published if not line.complete]
    assert 3 <= len(updates) <= 5, wires(published)
    assert all(line.wire.startswith("\r") and not line.wire.endswith("\n") for line in updates)
    assert published[-1].complete and published[-1].replaces
    assert published[-1].wire == "\r100.0%\n"


def test_an_unchanged_line_is_not_published_again() -> None:
    splitter = LineSplitter(update_interval=0.1)
    assert wires(splitter.feed("\rwaiting", now=0.0)) == []
    assert wires(splitter.feed("\rwaiting", now=0.5)) == ["\rwaiting"]
    assert wires(splitter.feed("\rwaiting", now=1.0)) == []
    assert splitter.due(2.0) is None


def test_a_partial_line_left_alone_becomes_due_after_the_interval() -> None:
    splitter = LineSplitter(update_interval=0.2)
    splitter.feed("loading model...", now=10.0)
    assert splitter.due(10.1) is None
    update = splitter.due(10.25)
    assert update is not None and update.wire == "\rloading model..."
    assert wires(splitter.feed(" done\n", now=11.0)) == ["\rloading model... done\n"]


def test_a_line_completed_quickly_is_never_published_as_an_update() -> None:
    splitter = LineSplitter(update_interval=0.2)
    published = []
    for n in range(1000):
        published += splitter.feed(f"line {n}", now=n * 0.01)
        published += splitter.feed("\n", now=n * 0.01)
    assert all(line.complete and not line.replaces for line in published)
    assert [line.text for line in published] == [f"line {n}" for n in range(1000)]


def test_an_endless_line_is_cut_at_max_line_chars() -> None:
    splitter = LineSplitter(max_line_chars=10)
    lines = splitter.feed("x" * 25, now=0.0)
    assert [line.text for line in lines] == ["x" * 10, "x" * 10]
    assert splitter.pending == "x" * 5


def test_close_completes_the_line_in_progress() -> None:
    splitter = LineSplitter(update_interval=0.0)
    assert splitter.close() is None
    splitter.feed("\rhalf", now=0.0)  # interval 0: published as an update at once
    last = splitter.close()
    assert last is not None and last.wire == "\rhalf\n"
    assert splitter.close() is None


def test_bad_settings_are_explained() -> None:
    with pytest.raises(ValueError, match="update_interval"):
        LineSplitter(update_interval=-1)
    with pytest.raises(ValueError, match="max_line_chars"):
        LineSplitter(max_line_chars=0)


class _SplitterStream:
    """A file object feeding a splitter with real time, as the output capture does."""

    def __init__(self, splitter: LineSplitter) -> None:
        import time

        self.splitter = splitter
        self.clock = time.monotonic
        self.lines: list[OutputLine] = []

    def write(self, text: str) -> int:
        self.lines += self.splitter.feed(text, self.clock())
        return len(text)

    def flush(self) -> None:
        pass


def test_a_real_tqdm_bar_becomes_a_handful_of_updates_of_one_line() -> None:
    import time

    stream = _SplitterStream(LineSplitter(update_interval=0.1))
    for _ in tqdm(range(3000), file=stream, mininterval=0, miniters=1, ascii=True):
        time.sleep(0.0001)
    complete = [line for line in stream.lines if line.complete]
    updates = [line for line in stream.lines if not line.complete]
    assert len(complete) == 1 and "100%" in complete[0].text and "3000/3000" in complete[0].text
    assert len(updates) < 60  # tqdm redrew ~3000 times


def test_feed_wire_says_the_same_as_feed_in_fewer_pieces() -> None:
    import random

    rng = random.Random(6)
    alphabet = ["a", "bc", "\n", "\n\n", "\r", "\r\n", "12345", "x" * 30]
    for _ in range(300):
        chunks = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12))) for _ in range(rng.randint(1, 8))]
        by_line, by_piece = LineSplitter(max_line_chars=40), LineSplitter(max_line_chars=40)
        lines = [line for n, chunk in enumerate(chunks) for line in by_line.feed(chunk, now=n * 0.1)]
        pieces = [piece for n, chunk in enumerate(chunks) for piece in by_piece.feed_wire(chunk, now=n * 0.1)]
        assert "".join(line.wire for line in lines) == "".join(wire for wire, _ in pieces), chunks
        assert sum(line.complete for line in lines) == sum(count for _, count in pieces), chunks
        assert len(pieces) <= len(lines)
        assert by_line.pending == by_piece.pending


def test_the_long_line_check_never_passes_a_line_over_the_limit() -> None:
    import random

    rng = random.Random(16)
    passed = 0
    for _ in range(3000):
        limit = rng.randint(1, 30)
        text = "".join(rng.choice(["a", "bcd", "\n", "x" * limit]) for _ in range(rng.randint(0, 40)))
        longest = max(map(len, text.split("\n")))
        if no_line_longer_than(text, limit):
            passed += 1
            assert longest <= limit, (text, limit)
    assert passed > 100  # and it does pass texts whose lines are short enough
    burst = "".join(f"step {n:7d}  loss {1 / (n + 1):.6f}\n" for n in range(5000))
    assert no_line_longer_than(burst, 65_536)
    assert not no_line_longer_than(burst + "y" * 65_537 + "\n", 65_536)


def test_feed_wire_keeps_a_burst_of_prints_in_one_piece() -> None:
    splitter = LineSplitter()
    splitter.feed_wire("step 0", now=0.0)
    burst = "".join(f"step {n}\n" for n in range(1, 1000))
    pieces = splitter.feed_wire("\n" + burst + "step 1000", now=0.0)
    assert pieces == [("step 0\n", 1), (burst, 999)]
    assert splitter.pending == "step 1000"
