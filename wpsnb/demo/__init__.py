"""``wpsnb demo``: the official log-streaming tutorial's server, in one command.

A local Web PubSub service, a ``/negotiate`` endpoint that hands browsers and ``wpsnb pipe`` a client
access URL for the hub ``stream`` with the roles ``webpubsub.sendToGroup.stream`` and
``webpubsub.joinLeaveGroup.stream``, and a page that joins the group ``stream`` and shows what
arrives (:mod:`wpsnb.demo.app`).

Example::

    $ wpsnb demo --port 8080
    $ ls -R | wpsnb pipe stream --negotiate http://127.0.0.1:8080/negotiate
"""

from __future__ import annotations

from .app import DEMO_GROUP, DEMO_HUB, DEMO_ROLES, build_demo_app

__all__ = ["DEMO_GROUP", "DEMO_HUB", "DEMO_ROLES", "build_demo_app"]
