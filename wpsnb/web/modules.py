"""One ES module out of several, for a widget: each imported module once, loaded from a ``blob:`` URL.

The front-end files in this directory import each other by relative path, which a page served from
here resolves by itself. An anywidget cannot: its ``_esm`` is a string the front end imports from a
``blob:`` URL, against which ``"./dom.js"`` means nothing. :func:`esm` therefore returns a small
loader module holding the sources of the module and of everything it imports (each once, in
dependency order). At load time it gives each module a ``blob:`` URL after its imports have one,
with its relative specifiers pointed at those URLs, imports the entry and re-exports its default
(what anywidget calls). Each source is carried once, unencoded (JSON string escapes only).

Only static imports are rewritten, each starting a line::

    import { h } from "./dom.js";
    import uPlot from "./vendor/uPlot.iife.min.js";
    export { clockTime } from "./dom.js";

A dynamic ``import()`` of a relative path, an import cycle, or a path that leaves this directory is an
error. Vendored classic scripts (a ``var`` at top level instead of ``export``) are listed in
:data:`CLASSIC_SCRIPTS` and served with the one ``export default`` line they lack.

Hot reload: with anywidget's switch ``ANYWIDGET_HMR=1`` (and ``watchfiles`` installed, outside
site-packages), :func:`widget_esm` returns anywidget's live file contents that follow every change of
a file in this directory, so an edit shows in every open widget without restarting the kernel.

Example::

    >>> source = esm("live_view.js")
    >>> '"dom.js"' in source and "./dom.js" not in source
    True
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from pathlib import Path
from typing import Any

log = logging.getLogger("wpsnb.web")
WEB_DIR = Path(__file__).resolve().parent

# Vendored classic scripts and the global each one defines (exported as the module's default).
CLASSIC_SCRIPTS = {"vendor/uPlot.iife.min.js": "uPlot"}

# A static import/export statement at the start of a line with a relative specifier. The head
# stops at quotes and semicolons, so a string elsewhere (`const s = "./x"`) is never taken.
_STATIC_IMPORT = re.compile(
    r"""^(?P<head>[ \t]*(?:(?:import|export)\b[^;"'`]*?\bfrom[ \t]*|import[ \t]*))"""
    r"""(?P<quote>["'])(?P<spec>\.{1,2}/[^"'\n]+)(?P=quote)""",
    re.MULTILINE,
)
_DYNAMIC_IMPORT = re.compile(r"""\bimport\(\s*["']\.{1,2}/""")


def module_source(name: str) -> str:
    """The text of the front-end file ``name`` (relative to this directory) as a page loads it.

    >>> module_source("vendor/uPlot.iife.min.js").rstrip().endswith("export default uPlot;")
    True
    """
    path = _resolve(name)
    text = path.read_text(encoding="utf-8")
    exported = CLASSIC_SCRIPTS.get(path.relative_to(WEB_DIR).as_posix())
    if exported:
        text += f"\nexport default {exported};\n"
    return text


def esm(name: str) -> str:
    """The module ``name`` with its relative imports inlined: one string for an anywidget's ``_esm``.

    >>> esm("stream_view.js").rstrip().endswith("export default entry.default;")
    True
    """
    entry = _resolve(name)
    order: list[tuple[str, str]] = []
    _collect(entry, order, ())
    return _LOADER.replace("ENTRY", json.dumps(entry.relative_to(WEB_DIR).as_posix())).replace(
        "MODULES", json.dumps(order, ensure_ascii=False, indent=0)
    )


def css(*names: str) -> str:
    """The style sheets ``names`` of this directory, joined in order (one string for ``_css``).

    >>> ".wpsnb-widget" in css("widgets.css")
    True
    """
    return "\n".join(_resolve(name).read_text(encoding="utf-8") for name in names)


def widget_esm(name: str) -> Any:
    """What a widget class sets as ``_esm``: :func:`esm`, live-reloading under ``ANYWIDGET_HMR=1``.

    >>> isinstance(widget_esm("feed.js"), str)     # no ANYWIDGET_HMR here
    True
    """
    if os.environ.get("ANYWIDGET_HMR") != "1" or "site-packages" in WEB_DIR.parts:
        return esm(name)
    try:
        import watchfiles  # noqa: F401  (checked here so the watcher thread cannot fail on it)
        from anywidget._file_contents import VirtualFileContents  # anywidget's own live-contents type
    except ImportError:
        log.warning("wpsnb: ANYWIDGET_HMR=1 but watchfiles is not installed: widgets will not hot reload")
        return esm(name)
    contents = VirtualFileContents(esm(name))
    threading.Thread(target=_follow, args=(name, contents), name=f"wpsnb-hmr-{name}", daemon=True).start()
    return contents


def _follow(name: str, contents: Any) -> None:
    import watchfiles

    for _changes in watchfiles.watch(WEB_DIR):
        try:
            source = esm(name)
        except Exception as error:  # a half-saved file: keep the last good module, say why
            log.warning("wpsnb: not reloading %s: %s", name, error)
            continue
        if source != contents.contents:
            contents.contents = source  # anywidget sets every live widget's _esm from this


def _resolve(name: str, importer: Path | None = None) -> Path:
    base = importer.parent if importer else WEB_DIR
    path = (base / name).resolve()
    where = f" (imported by {importer.relative_to(WEB_DIR)})" if importer else ""
    if not path.is_relative_to(WEB_DIR):
        raise ValueError(f"front-end module {name!r}{where} is outside {WEB_DIR}")
    if not path.is_file():
        raise FileNotFoundError(f"front-end module {name!r}{where} does not exist: {path}")
    return path


def _collect(path: Path, order: list[tuple[str, str]], chain: tuple[Path, ...]) -> None:
    """Append ``path``'s imports (depth first), then ``path`` itself, to ``order``; each module once."""
    relative = path.relative_to(WEB_DIR).as_posix()
    if path in chain:
        cycle = " -> ".join(p.relative_to(WEB_DIR).as_posix() for p in (*chain, path))
        raise ValueError(f"import cycle in the front-end modules: {cycle}")
    if any(name == relative for name, _ in order):
        return
    text = module_source(relative)
    if _DYNAMIC_IMPORT.search(text):
        raise ValueError(f"{relative}: a dynamic import() of a relative path cannot be inlined; import it statically")

    def replace(match: re.Match[str]) -> str:
        target = _resolve(match["spec"], path)
        _collect(target, order, (*chain, path))
        name = target.relative_to(WEB_DIR).as_posix()
        return f"{match['head']}{match['quote']}{_MARK}{name}{match['quote']}"

    order.append((relative, _STATIC_IMPORT.sub(replace, text)))


_MARK = "wpsnb-module:"  # a rewritten specifier, until the loader puts the module's blob: URL there
_LOADER = """// A wpsnb widget's front end: wpsnb/web's modules, made into one by wpsnb/web/modules.py. Each module
// gets a blob: URL once its imports have one, with their specifiers pointed at those URLs.
const modules = MODULES;
const urls = {};
for (const [name, source] of modules) {
  const text = source.replace(/(["'])wpsnb-module:([^"']+)\\1/g, (_, quote, dep) => quote + urls[dep] + quote);
  const blob = new Blob([`${text}\\n//# sourceURL=wpsnb/web/${name}\\n`], { type: "text/javascript" });
  urls[name] = URL.createObjectURL(blob);
}
const entry = await import(urls[ENTRY]);
for (const url of Object.values(urls)) URL.revokeObjectURL(url); // loaded and linked: no longer needed
export default entry.default;
"""
