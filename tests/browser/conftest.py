"""Real-browser fixtures: JupyterLab headless on loopback, driven by Playwright in Debian's Chromium.

What was measured to work on these machines:

- ``jupyter`` (session): a JupyterLab server with fresh config/runtime/settings dirs, its default
  IOPub rate limit (our widgets must live with it), a token, and a working directory where the
  notebooks under test are written. Yields a :class:`JupyterServer`.
- ``open_notebook(name, notebook)``: writes an ``nbformat`` notebook into that directory, opens it
  in JupyterLab and waits until its kernel is really ready (not just "idle" with no kernel).
- ``run_all_cells(page)``: Run > Run All Cells, then waits until every cell has finished.
- ``artifact_path(name)``: where screenshots go (``tests/artifacts/``, kept out of git); a failed
  test that opened a notebook leaves ``failed-<test>.png`` there.

Every test's kernels are shut down afterwards. Chromium is ``/usr/bin/chromium`` (never a
downloaded build); these tests skip with the reason when it or JupyterLab is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("WPSNB_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# JupyterLab settings that keep the UI deterministic: no news toast, no autosave dirtying the
# copy, no windowing (cells outside the viewport would otherwise not be in the DOM).
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {
        "autoStartDefaultKernel": True,
        "windowingMode": "none",
    },
}

# "idle" shows for ~0.3 s after load while the session still has no kernel; Run All in that
# window opens the kernel dialog and runs nothing. This waits for a connected, idle kernel.
KERNEL_READY = """() => {
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const sc = w && w.sessionContext;
  if (!sc || !sc.isReady || sc.hasNoKernel || !sc.session || !sc.session.kernel) return false;
  const k = sc.session.kernel;
  return k.connectionStatus === 'connected' && k.status === 'idle';
}"""

CELLS_DONE = """() => {
  const indicator = document.querySelector('.jp-Notebook-ExecutionIndicator');
  if (!indicator || indicator.getAttribute('data-status') !== 'idle') return false;
  const prompts = [...document.querySelectorAll('.jp-Notebook .jp-InputPrompt')];
  return prompts.length > 0 && prompts.every(p => !p.textContent.includes('*'));
}"""


@dataclass(frozen=True)
class JupyterServer:
    """A running JupyterLab: ``url`` (no trailing slash), ``token``, ``root`` (its working directory),
    ``data_dir`` (its own JUPYTER_DATA_DIR, where the notebook-trust database lives)."""

    url: str
    token: str
    root: Path
    data_dir: Path

    def api(self, method: str, path: str) -> Any:
        """Call the server's REST API, e.g. ``api("GET", "/api/sessions")``."""
        request = urllib.request.Request(
            f"{self.url}{path}", method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def lab_url(self, notebook: str) -> str:
        """The JupyterLab URL that opens ``notebook`` (relative to ``root``) in a fresh layout."""
        return f"{self.url}/lab/tree/{notebook}?token={self.token}&reset"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _skip_unless_browser_available() -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Debian's chromium is not installed at {CHROMIUM}: apt-get install chromium (or make test-deps)")
    if shutil.which("jupyter-lab", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("JupyterLab is not installed in this environment: pip install -e '.[test]'")


@pytest.fixture(scope="session")
def jupyter() -> Iterator[JupyterServer]:
    """JupyterLab on 127.0.0.1 with its own config, runtime and settings dirs; stopped at the end."""
    _skip_unless_browser_available()
    home = Path(tempfile.mkdtemp(prefix="wpsnb-lab-"))
    root = home / "work"
    root.mkdir()
    env = dict(os.environ)
    for var, sub in [
        ("JUPYTER_CONFIG_DIR", "config"),
        ("JUPYTER_RUNTIME_DIR", "runtime"),
        ("IPYTHONDIR", "ipython"),
        ("JUPYTERLAB_SETTINGS_DIR", "settings"),
        ("JUPYTERLAB_WORKSPACES_DIR", "workspaces"),
        ("JUPYTER_DATA_DIR", "data"),  # kernelspecs still come from the environment's share/jupyter
    ]:
        (home / sub).mkdir()
        env[var] = str(home / sub)
    for name, value in LAB_SETTINGS.items():
        path = home / "settings" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))

    port, token = _free_port(), os.urandom(16).hex()
    log = (home / "jupyterlab.log").open("wb")
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
        f"--IdentityProvider.token={token}", "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate", f"--ServerApp.root_dir={root}",
    ]  # fmt: skip
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # without it JupyterLab exits at once as root
    process = subprocess.Popen(command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    server = JupyterServer(url=f"http://127.0.0.1:{port}", token=token, root=root, data_dir=home / "data")
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with {process.returncode}; see {home / 'jupyterlab.log'}")
            try:
                server.api("GET", "/api/status")
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    message = f"JupyterLab did not answer within 60 s; see {home / 'jupyterlab.log'}"
                    raise RuntimeError(message) from None
                time.sleep(0.2)
        yield server
    finally:
        process.send_signal(signal.SIGTERM)  # the server stops its kernels on SIGTERM
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """pytest-playwright launches Debian's Chromium, headless, with the flags measured on these machines."""
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "headless": True, "args": CHROMIUM_ARGS}


@pytest.fixture
def artifact_path() -> Callable[[str], Path]:
    """``artifact_path("x.png")`` -> ``tests/artifacts/x.png`` (the directory is created)."""

    def make(name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        return ARTIFACTS / name

    return make


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, f"report_{report.when}", report)  # lets fixtures see whether the test failed
    return report


@pytest.fixture
def open_notebook(jupyter: JupyterServer, page: Any, request: pytest.FixtureRequest) -> Iterator[Callable[..., Any]]:
    """``open_notebook("name.ipynb", nb)`` writes ``nb`` into the server's root and opens it; returns the page.

    The notebook must carry kernelspec metadata (``make_notebook`` below sets it), or
    JupyterLab asks which kernel to use. ``trusted=True`` signs it for this server first: JupyterLab
    renders saved widget outputs (and HTML, JavaScript) only in trusted notebooks. Kernels started
    by the test are shut down afterwards.
    """

    def open_(name: str, notebook: Any, timeout: float = 60, trusted: bool = False) -> Any:
        import nbformat
        from nbformat.sign import NotebookNotary

        if trusted:
            NotebookNotary(data_dir=str(jupyter.data_dir)).sign(notebook)
        nbformat.write(notebook, jupyter.root / name)
        page.goto(jupyter.lab_url(name))
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=timeout * 1000)
        page.wait_for_function(KERNEL_READY, timeout=timeout * 1000)
        return page

    yield open_
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=ARTIFACTS / f"failed-{request.node.name}.png", full_page=True)
    for session in jupyter.api("GET", "/api/sessions"):
        try:
            jupyter.api("DELETE", f"/api/sessions/{session['id']}")
        except urllib.error.HTTPError:
            pass  # already gone


@pytest.fixture
def run_all_cells() -> Callable[..., None]:
    """``run_all_cells(page, timeout=60)``: Run > Run All Cells, then wait for every cell to finish."""

    def run(page: Any, timeout: float = 60) -> None:
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel").filter(has_text="Run All Cells").first.click()
        # It started: the first code cell's prompt shows [*] or a number (a missed click leaves it empty).
        page.wait_for_function(
            "() => /\\[(\\*|\\d+)\\]/.test("
            "document.querySelector('.jp-Notebook .jp-CodeCell .jp-InputPrompt').textContent)",
            timeout=30_000,
        )
        page.wait_for_function(CELLS_DONE, timeout=timeout * 1000)

    return run


@pytest.fixture
def make_notebook() -> Callable[..., Any]:
    """``make_notebook(source1, source2, ...)``: an ``nbformat`` v4 notebook of code cells, python3 kernelspec set."""
    import nbformat

    def make(*sources: str) -> Any:
        notebook = nbformat.v4.new_notebook()
        notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        notebook.cells = [nbformat.v4.new_code_cell(source) for source in sources]
        return notebook

    return make


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything in tests/browser/ is a browser test (``-m "not browser"`` skips them)."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)
