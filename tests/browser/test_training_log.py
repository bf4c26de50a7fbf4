"""StreamView as a training-log viewer, in a real JupyterLab: history on join, a progress bar drawn in
place, LogHandler records with level and logger, the level filter, search as shown, the Metrics tab.

The kernel publishes (lines, a ``\\r`` progress bar, metrics as JSON, ``LogHandler`` records) *before*
the StreamView exists, so everything it shows from then came as
history from the kernel's publisher; a later cell adds live lines. Screenshots go to tests/artifacts/.
"""

from __future__ import annotations

import re

from playwright.sync_api import expect

HUB = "browser"


def test_streamview_shows_a_training_run_with_history_progress_levels_search_and_metrics(
    local_service, open_notebook, run_all_cells, make_notebook, artifact_path
):
    notebook = make_notebook(
        "import logging, time\n"
        "from wpsnb import LogHandler, StreamView\n"
        "from wpsnb.publishing import Publisher\n"
        f"CONNECTION = {local_service.connection_string!r}\n"
        # The training process: a publisher (kept open, so it answers history requests) and logging.
        f"run = Publisher('train', CONNECTION, hub={HUB!r}, user_id='trainer').start()\n"
        "log = logging.getLogger('train')\n"
        "log.setLevel(logging.INFO)\n"
        f"log.addHandler(LogHandler('train', source=CONNECTION, hub={HUB!r}, user_id='trainer'))\n"
        "run.put_chunk(0, 'epoch 1 starting\\n')\n"
        "for n in range(6):\n"
        "    run.put_chunk(0, f'\\r{n * 20:3d}% |' + '#' * n)\n"
        "    time.sleep(0.3)\n"
        "run.put_chunk(0, '\\r100% |###### done\\n')\n"
        "log.warning('loss is high', extra={'step': 1, 'loss': 0.9})\n"
        "log.error('gradient exploded')\n"
        "log.info('checkpoint saved')\n"
        "for step in range(2, 6):\n"
        "    run.put_json({'step': step, 'loss': 1 / step, 'acc': 0.5 + step / 20})\n"
        "run.flush()\n"
        "for handler in log.handlers: handler.flush()",
        f"view = StreamView(CONNECTION, hub={HUB!r}, groups=['train'], title='training run')\nview",
        "time.sleep(1.5)  # the view's wait for history answers is over\n"
        "run.put_chunk(0, 'epoch 2 live line\\n')\n"
        "run.flush()",
    )
    page = open_notebook("training.ipynb", notebook)
    run_all_cells(page, timeout=90)
    stream = page.locator(".wpsnb-stream").first
    expect(stream).to_have_attribute("data-state", "connected")

    # History: the lines published before the view existed, marked as such, then the live one.
    expect(stream.locator(".wpsnb-message[data-history='true']", has_text="epoch 1 starting")).to_have_count(1)
    live = stream.locator(".wpsnb-message", has_text="epoch 2 live line")
    expect(live).to_have_count(1)
    assert live.get_attribute("data-history") is None

    # The progress bar: one row, redrawn in place, showing its last state.
    bar = stream.locator(".wpsnb-message", has_text=re.compile(r"\d+% \|"))
    expect(bar).to_have_count(1)
    expect(bar.locator(".wpsnb-text")).to_have_text("100% |###### done")

    # Log records: `time LEVEL logger: message`, coloured by level; extra fields shown.
    warning = stream.locator(".wpsnb-log-record[data-level='WARNING']")
    shown = re.compile(r'^WARNING train: loss is high \{"step":1,"loss":0.9\}')
    expect(warning.locator(".wpsnb-record")).to_have_text(shown)
    expect(warning.locator(".wpsnb-time")).to_have_text(re.compile(r"^\d\d:\d\d:\d\d\.\d{3}$"))
    error = stream.locator(".wpsnb-log-record[data-level='ERROR']")
    expect(error).to_have_class(re.compile(r"wpsnb-row-ERROR"))
    colour = error.locator(".wpsnb-level").evaluate("e => getComputedStyle(e).color")
    info_colour = stream.locator(".wpsnb-log-record[data-level='INFO'] .wpsnb-level").evaluate(
        "e => getComputedStyle(e).color"
    )
    assert colour != info_colour
    # wpsnb's own control messages (the history request and answer) are never shown.
    expect(stream.locator(".wpsnb-message", has_text="history-request")).to_have_count(0)
    expect(stream.locator(".wpsnb-message", has_text='"wpsnb"')).to_have_count(0)
    stream.screenshot(path=artifact_path("streamview-log.png"))

    # Level filter: WARNING+ leaves the warning and the error.
    stream.locator(".wpsnb-filter-level").select_option("30")
    expect(stream.locator(".wpsnb-message")).to_have_count(2)
    stream.locator(".wpsnb-filter-level").select_option("")
    # Search matches what a row shows, JSON punctuation aside: `step 3` finds {"step": 3, ...}.
    stream.locator(".wpsnb-filter-text").fill("step 3")
    expect(stream.locator(".wpsnb-message")).to_have_count(1)
    expect(stream.locator(".wpsnb-message[data-type='json']")).to_contain_text('"step":3')
    stream.locator(".wpsnb-filter-text").fill("epoch 1")
    expect(stream.locator(".wpsnb-message")).to_have_count(1)
    stream.locator(".wpsnb-filter-text").fill("")

    # Metrics: one chart per metric, against step; loss from the log record's extra and the JSON.
    stream.locator(".wpsnb-tab[data-tab='metrics']").click()
    expect(stream).to_have_attribute("data-tab", "metrics")
    loss = stream.locator(".wpsnb-metric[data-metric='loss']")
    expect(loss).to_have_attribute("data-points", "5")
    expect(loss).to_have_attribute("data-axis", "step")
    expect(loss).to_have_attribute("data-last", "0.2")
    expect(loss.locator("canvas")).to_be_visible()
    expect(stream.locator(".wpsnb-metric[data-metric='acc']")).to_have_attribute("data-points", "4")
    assert stream.locator(".wpsnb-metric[data-metric='step']").count() == 0
    stream.screenshot(path=artifact_path("streamview-metrics.png"))
