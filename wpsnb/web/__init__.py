"""wpsnb's front end: the ES modules and style sheets of the widgets and pages, shipped as package files.

Every ``*.js`` file here is an ES module that imports what it uses by relative path
(``import { h } from "./dom.js"``). A page served from this directory (the watch page) loads them as
they are; a widget gets them through :func:`esm`, which makes one module whose imports need no server.
Third-party code is in ``vendor/`` (its version and licence in ``vendor/VENDORED.md``). Nothing is
loaded from a CDN.
"""

from .modules import WEB_DIR, css, esm, module_source, widget_esm

__all__ = ["WEB_DIR", "css", "esm", "module_source", "widget_esm"]
