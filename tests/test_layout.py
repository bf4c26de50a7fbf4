"""The layout rules of the package, checked on the source: the protocol core is pure, the layers only point
down, and no module imports another's private names.

- ``wpsnb/protocol/`` imports no I/O library (no sockets, threads, event loops, HTTP) and nothing of ours
  but itself and ``wpsnb.errors`` (plain exception classes).
- ``wpsnb/client/`` never imports the service or the surfaces (it must work against Azure);
  ``wpsnb/service/`` never imports the client or the surfaces; ``wpsnb/source.py`` (used by the client
  and the surfaces) imports neither.
- ``from x import _name`` across modules is refused: call what ``x`` makes public.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "wpsnb"
IO_LIBRARIES = {
    "asyncio",
    "socket",
    "selectors",
    "ssl",
    "threading",
    "concurrent",
    "subprocess",
    "multiprocessing",
    "http",
    "urllib.request",
    "aiohttp",
    "websockets",
    "requests",
    "tornado",
}
SURFACES = ("notebook", "publishing", "cli", "demo", "watch", "web")
MAY_NOT_IMPORT = {
    "protocol": None,  # anything of ours outside protocol/ (and errors), see protocol_may_import
    "client": ("service", *SURFACES),
    "service": ("client", *SURFACES),
    "source": ("client", "service", *SURFACES),  # what a client connects to: shared by the client and surfaces
}


def modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found.append((name, path))
    return found


def imports(name: str, path: Path) -> list[tuple[str, list[str], int]]:
    """``(imported module, names taken from it, line)`` for every import in the file, relative ones resolved."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    result = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            result.extend((alias.name, [], node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            result.append((target, [alias.name for alias in node.names], node.lineno))
    return result


def layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "wpsnb" else None


def test_the_scan_sees_the_package() -> None:
    names = {name for name, _ in modules()}
    assert {"wpsnb.protocol.json_codec", "wpsnb.service.hub", "wpsnb.client.connection"} <= names
    dispatch = imports("wpsnb.service.dispatch", PACKAGE / "service" / "dispatch.py")
    assert any(target == "wpsnb.protocol.messages" and "Ack" in taken for target, taken, _ in dispatch)


def test_the_protocol_core_imports_no_io_library() -> None:
    found = [
        f"{name}:{line} imports {target}"
        for name, path in modules()
        if layer(name) == "protocol"
        for target, _, line in imports(name, path)
        if target in IO_LIBRARIES or target.split(".")[0] in IO_LIBRARIES - {"urllib.request"}
    ]
    assert not found, "wpsnb/protocol/ is sans-I/O:\n  " + "\n  ".join(found)


def test_layers_point_down() -> None:
    found = []
    for name, path in modules():
        own = layer(name)
        if own not in MAY_NOT_IMPORT:
            continue
        for target, _, line in imports(name, path):
            other = layer(target)
            if other is None or other == own:
                continue
            refused = MAY_NOT_IMPORT[own]
            if (refused is None and other != "errors") or (refused is not None and other in refused):
                found.append(f"{name}:{line} imports {target}")
    assert not found, "an import points up or sideways:\n  " + "\n  ".join(found)


def test_no_module_imports_another_modules_private_names() -> None:
    found = [
        f"{name}:{line} takes {taken} from {target}"
        for name, path in modules()
        for target, names, line in imports(name, path)
        if target.startswith("wpsnb")
        for taken in names
        if taken.startswith("_") and not taken.startswith("__")
    ]
    assert not found, "private names stay in their module; make what is shared public:\n  " + "\n  ".join(found)
