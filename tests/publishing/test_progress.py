"""ProgressCapture: tqdm.notebook bars as in-place lines; other progress widgets summarised."""

from __future__ import annotations

import contextlib
import io
from typing import Any

import ipywidgets
import tqdm.notebook

from wpsnb.publishing.progress import ProgressCapture


class Sink:
    """Collects what a publisher would queue."""

    def __init__(self) -> None:
        self.chunks: list[tuple[int, str]] = []
        self.texts: list[str] = []

    def put_chunk(self, stream: int, text: str) -> bool:
        self.chunks.append((stream, text))
        return True

    def put_text(self, text: str, lines: int = 1) -> bool:
        self.texts.append(text)
        return True


def quietly(run: Any) -> Any:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return run()


def test_a_notebook_bar_becomes_updates_of_one_line_that_ends_complete() -> None:
    sink = Sink()
    capture = ProgressCapture(sink).start()
    try:
        quietly(lambda: [None for _ in tqdm.notebook.tqdm(range(50), desc="epoch 1", mininterval=0)])
    finally:
        capture.stop()
    streams = {stream for stream, _ in sink.chunks}
    assert streams == {2}  # its own stream, beside stdout (0) and stderr (1)
    texts = [text for _, text in sink.chunks]
    assert all(text.startswith("\r") for text in texts)
    assert texts[-1].endswith("\n") and "50/50" in texts[-1] and texts[-1].startswith("\repoch 1: 100%")
    assert not any(text.endswith("\n") for text in texts[:-1])


def test_bars_are_not_captured_once_stopped_and_two_bars_get_two_streams() -> None:
    sink = Sink()
    capture = ProgressCapture(sink).start()
    quietly(lambda: ([None for _ in tqdm.notebook.tqdm(range(3))], [None for _ in tqdm.notebook.tqdm(range(3))]))
    capture.stop()
    assert {stream for stream, _ in sink.chunks} == {2, 3}
    before = len(sink.chunks)
    quietly(lambda: [None for _ in tqdm.notebook.tqdm(range(3))])
    assert len(sink.chunks) == before


def test_other_progress_widgets_are_summarised_in_a_line() -> None:
    sink = Sink()
    capture = ProgressCapture(sink).start()
    bar = ipywidgets.IntProgress(value=0, max=10, description="loading")
    bar.value = 7
    capture.stop()
    assert sink.texts == ["[progress: loading 7/10]\n"]
