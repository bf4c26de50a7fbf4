"""The examples in wpsnb's docstrings run and say what they show (``# doctest: +SKIP`` marks the ones
that need a live notebook or service), and every module shows at least one that runs.

A module with nothing runnable to show is listed in :data:`WITHOUT_EXAMPLES` with the reason; the test
fails when a listed module gains an example, so the list only holds what is true.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import wpsnb

MODULES = sorted(info.name for info in pkgutil.walk_packages(wpsnb.__path__, "wpsnb."))

PACKAGE = "a package: its modules carry the examples"
WITHOUT_EXAMPLES = {
    "wpsnb.protocol": PACKAGE,
    "wpsnb.service": PACKAGE,
    "wpsnb.web": PACKAGE,
    "wpsnb.demo": PACKAGE,
    "wpsnb.notebook": PACKAGE,
    "wpsnb.publishing": PACKAGE,
    "wpsnb.cli.__main__": "runs the command when executed as `python -m wpsnb.cli`; importing it does nothing",
    "wpsnb.cli.trace": "reads a running service's /trace endpoint (tests/cli runs it)",
    "wpsnb.client.connection": "AsyncClient needs a running service and an event loop (tests/client runs it)",
    "wpsnb.client.link": "the sockets of a connected client: needs a running service (tests/client runs it)",
    "wpsnb.notebook.cell_scope": "keys widgets by the IPython cell running them: needs a kernel (tests/notebook)",
    "wpsnb.notebook.live_trace": "a widget watching a running service: needs a kernel (tests/notebook, tests/browser)",
    "wpsnb.notebook.live_widget": "a widget base class: needs a kernel's comms (tests/notebook)",
    "wpsnb.notebook.magics": "a cell magic: needs an IPython shell (tests/notebook runs it in a kernel)",
    "wpsnb.publishing.publisher": "a Publisher sends through a client connected to a service (tests/publishing)",
    "wpsnb.publishing.progress": "captures tqdm.notebook bars while a cell runs: needs a kernel (tests/publishing)",
    "wpsnb.publishing.responder": "answers watchers over a connected client (tests/publishing)",
    "wpsnb.publishing.shared": "process-wide publishers connected to a service (tests/publishing)",
    "wpsnb.service.group_streams": "works on sessions with live sockets (tests/service)",
    "wpsnb.service.invocations": "runs upstream calls for live sessions (tests/interop/test_js_invoke.py)",
    "wpsnb.service.trace_http": "aiohttp handlers of a running service (tests/service/test_trace.py)",
}


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_hold(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) in {name} fail; run python -m doctest -v"
    if name in WITHOUT_EXAMPLES:
        assert result.attempted == 0, f"{name} runs examples now: remove it from WITHOUT_EXAMPLES"
        pytest.skip(WITHOUT_EXAMPLES[name])
    assert result.attempted > 0, (
        f"{name} has no docstring example that runs (a +SKIP one does not count); add one, or list the "
        "module in WITHOUT_EXAMPLES with the reason"
    )


def test_every_listed_module_exists() -> None:
    assert set(WITHOUT_EXAMPLES) <= set(MODULES), set(WITHOUT_EXAMPLES) - set(MODULES)
