"""The front-end modules and their loader: each file says what it imports; a widget gets one module.

Node imports the modules as a page does (files with relative imports, the vendored classic script
with its export line), so a missing export or a module that leans on another's globals fails here.
The widget loader's ``blob:`` URLs need a browser: the widget tests in tests/browser load it.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from wpsnb.web import WEB_DIR, css, esm, module_source, modules

NODE = shutil.which("node")
MODULES = sorted(p.relative_to(WEB_DIR).as_posix() for p in WEB_DIR.glob("*.js"))
WIDGETS = ["stream_view.js", "frame_inspector.js", "live_trace.js"]


def run_node(script: str) -> str:
    if NODE is None:
        pytest.skip("node is not installed (the interop tests need it too)")
    # On stdin; the modules are imported from a copy of the directory as a page gets it (module_source).
    done = subprocess.run([NODE, "--input-type=module"], input=script, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def served_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The front end as the watch page's server hands it out, in a directory node can import from."""
    root = tmp_path_factory.mktemp("web")
    for path in WEB_DIR.rglob("*.js"):
        name = path.relative_to(WEB_DIR).as_posix()
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(module_source(name), encoding="utf-8")
    (root / "package.json").write_text('{"type": "module"}')
    return root


def imported(root: Path, name: str) -> str:
    return json.dumps((root / name).as_uri())


def test_a_widget_module_carries_each_module_once_after_its_imports() -> None:
    for name in WIDGETS:
        source = esm(name)
        listed = re.findall(r'^"([\w./-]+\.js)",$', source, re.M)
        assert listed[-1] == name and len(listed) == len(set(listed))
        assert "dom.js" in listed and "feed.js" in listed and "live_view.js" in listed
        for position, module in enumerate(listed):  # every rewritten import names a module listed before it
            body = json.loads(source.split("const modules = ", 1)[1].split(";\nconst urls", 1)[0])[position][1]
            for dependency in re.findall(r"wpsnb-module:([\w./-]+)", body):
                assert dependency in listed[:position], (module, dependency)
    for name in MODULES:
        assert not re.search(r"""(from\s*|import\s*)\\?["']\.{1,2}/""", esm(name)), name
    assert esm("stream_view.js").count("export default uPlot;") == 1
    assert len(esm("stream_view.js")) < 1.2 * sum(
        len(module_source(n)) for n in re.findall(r'^"([\w./-]+\.js)",$', esm("stream_view.js"), re.M)
    )


@pytest.mark.node
@pytest.mark.parametrize("name", WIDGETS)
def test_each_widget_module_loads_with_only_what_it_imports(served_copy: Path, name: str) -> None:
    out = run_node(
        f"const m = await import({imported(served_copy, name)});"
        "console.log(typeof m.default.initialize, typeof m.default.render);"
    )
    assert out.split() == ["function", "function"]


@pytest.mark.node
def test_the_vendored_chart_library_loads_as_a_module(served_copy: Path) -> None:
    out = run_node(
        f"const m = await import({imported(served_copy, 'vendor/uPlot.iife.min.js')});"
        "console.log(typeof m.default, typeof m.default.paths);"
    )
    assert out.split() == ["function", "object"]


def test_only_static_imports_at_the_start_of_a_line_are_rewritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(modules, "WEB_DIR", tmp_path)
    (tmp_path / "b.js").write_text("export const b = 1;\n")
    (tmp_path / "a.js").write_text(
        'import { b } from "./b.js";\n'
        "import {\n  b as c,\n} from './b.js';\n"
        'export { b as d } from "./b.js";\n'
        'const path = "./b.js"; // a string, not an import\n'
    )
    source = esm("a.js")
    assert source.count("wpsnb-module:b.js") == 3 and source.count('"b.js",') == 1
    assert 'const path = \\"./b.js\\";' in source


def test_a_cycle_a_missing_file_an_escape_and_a_dynamic_import_are_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(modules, "WEB_DIR", tmp_path)
    (tmp_path / "a.js").write_text('import "./b.js";\n')
    (tmp_path / "b.js").write_text('import "./a.js";\n')
    with pytest.raises(ValueError, match=r"import cycle .*a\.js -> b\.js -> a\.js"):
        esm("a.js")
    (tmp_path / "c.js").write_text('import "./missing.js";\n')
    with pytest.raises(FileNotFoundError, match=r"'./missing.js' \(imported by c\.js\)"):
        esm("c.js")
    (tmp_path / "d.js").write_text('import "../outside.js";\n')
    with pytest.raises(ValueError, match="outside"):
        esm("d.js")
    (tmp_path / "e.js").write_text('const m = await import("./b.js");\n')
    with pytest.raises(ValueError, match="dynamic import"):
        esm("e.js")


def test_a_page_gets_the_files_as_they_are_except_the_classic_scripts_export() -> None:
    assert module_source("dom.js") == (WEB_DIR / "dom.js").read_text()
    vendored = (WEB_DIR / "vendor/uPlot.iife.min.js").read_text()
    assert module_source("vendor/uPlot.iife.min.js") == vendored + "\nexport default uPlot;\n"
    assert css("widgets.css", "stream_view.css").startswith((WEB_DIR / "widgets.css").read_text())


def test_the_vendored_files_match_their_recorded_checksums() -> None:
    import hashlib

    table = (WEB_DIR / "vendor" / "VENDORED.md").read_text()
    rows = re.findall(r"^\| `([^`]+)` \|.*\| `([0-9a-f]{64})` \|$", table, re.M)
    assert {name for name, _ in rows} == {"uPlot.iife.min.js", "uPlot.min.css"}
    for name, digest in rows:
        assert hashlib.sha256((WEB_DIR / "vendor" / name).read_bytes()).hexdigest() == digest, name
    assert (WEB_DIR / "vendor" / "uPlot.LICENSE").read_text().startswith("The MIT License")


@pytest.mark.node
def test_the_log_draws_progress_in_place_hides_control_messages_and_searches_what_it_shows(served_copy: Path) -> None:
    # log_lines.js with a feed store's interface (records, subscribe), as StreamView and the watch page use it.
    out = run_node(
        f"const m = await import({imported(served_copy, 'log_lines.js')});"
        """
        const text = (i, data, from = "p") => ({ i, kind: "message", dataType: "text", group: "g", from, data, t: i });
        const records = [
          text(0, "epoch 1\\n"), text(1, " 10%|#"), text(2, "other\\n", "q"), text(3, "\\r 50%|#####"),
          { i: 4, kind: "message", dataType: "json", group: "g", data: { wpsnb: "history-request", request: "x" } },
          text(5, "\\r100%|##########\\n"), text(6, "\\rnot an update: a new line\\n"),
          { i: 7, kind: "message", dataType: "json", group: "g", data: { epoch: 2, loss: 0.5 } },
          { i: 8, kind: "message", dataType: "json", group: "g",
            data: { level: "ERROR", levelno: 40, logger: "train", message: "boom", extra: { step: 3, lr: 0.01 } } },
        ];
        let listener = null;
        const feed = { records: [], header: {}, offline: false, subscribe: (f) => { listener = f; return () => {}; } };
        const lines = new m.LineStore(feed, 100);
        const updates = [];
        lines.subscribe((change) => updates.push(change));
        listener({ appended: records.slice(0, 4) });
        listener({ appended: records.slice(4) });
        const shown = lines.records.map((l) => l.text ?? JSON.stringify(l.data));
        const find = (q) => lines.records.filter((l) => m.lineMatches(l, { level: 0, text: m.searchable(q) })).length;
        console.log(JSON.stringify({
          shown,
          updated: updates.map((c) => (c.updated || []).map((l) => l.text)),
          terminal: m.terminalText("a\\rb\\r\\nc\\rd\\r"),
          epoch2: find("epoch 2"), quoted: find('"epoch": 2'), loss: find("loss 0.5"), none: find("epoch 3"),
          errors: lines.records.filter((l) => m.lineMatches(l, { level: 40, text: "" })).length,
          level: m.levelName(35),
        }));
        """
    )
    result = json.loads(out)
    assert result["shown"] == [
        "epoch 1",
        "100%|##########",  # the bar: one line, its last state (updates from its sender only)
        "other",
        "\rnot an update: a new line\n".strip("\r\n"),  # after a completed line, "\r" starts a new one
        '{"epoch":2,"loss":0.5}',
        '{"level":"ERROR","levelno":40,"logger":"train","message":"boom","extra":{"step":3,"lr":0.01}}',
    ]
    assert result["updated"] == [[], ["100%|##########"]]  # batches overlap a line's updates: the last one shows
    assert result["terminal"] == "b\nd"
    assert (result["epoch2"], result["quoted"], result["loss"], result["none"]) == (1, 1, 1, 0)
    assert result["errors"] == 1 and result["level"] == "WARNING"


@pytest.mark.node
def test_metric_points_come_from_json_fields_and_log_extra_against_step_or_time(served_copy: Path) -> None:
    script = f"const m = await import({imported(served_copy, 'metrics.js')});"
    # metrics.js draws with uPlot in a browser; its point extraction is plain data.
    script = "globalThis.ResizeObserver = class {};" + script
    out = run_node(
        script
        + """
        const rec = (data, t = 5000) => ({ kind: "message", dataType: "json", data, t });
        console.log(JSON.stringify([
          m.metricPoints(rec({ step: 3, loss: 0.25, ok: true, name: "x" })),
          m.metricPoints(rec({ acc: 0.9 })),
          m.metricPoints(rec({
            levelno: 20, message: "m", logger: "l", time: "1970-01-01T00:00:02.000Z", extra: { lr: 0.1 },
          })),
          m.metricPoints(rec({ wpsnb: "history", through: 3 })),
          m.metricPoints({ kind: "message", dataType: "text", data: "loss 0.3", t: 0 }),
        ]));
        """
    )
    step, timed, log, control, text = json.loads(out)
    assert step == [{"name": "loss", "x": 3, "y": 0.25, "axis": "step"}]  # booleans and strings are no metric
    assert timed == [{"name": "acc", "x": 5, "y": 0.9, "axis": "time"}]
    assert log == [{"name": "lr", "x": 2, "y": 0.1, "axis": "time"}]  # the record's own time, not levelno
    assert control == [] and text == []
