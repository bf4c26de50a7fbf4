"""The options the group commands share (``GROUP``, ``--hub``, ``--connection-string`` / ``--negotiate``, ...)
and the source they name.

Example::

    wpsnb tail stream --hub stream --connection-string "$WebPubSubConnectionString" --user ann
"""

from __future__ import annotations

import argparse

from ..errors import InvalidSource
from ..source import ENV_VARIABLES, Source, environment_connection_string
from .failures import EXIT_USAGE, CommandFailed

NO_SOURCE = (
    f"no service given: pass --connection-string or --negotiate, or set {ENV_VARIABLES[0]}; to run one "
    "locally, start `wpsnb serve` (then export the connection string it prints) or `wpsnb demo` (then pass "
    "--negotiate http://127.0.0.1:8080/negotiate)"
)


def add_group_arguments(p: argparse.ArgumentParser) -> None:
    """Add ``GROUP``, ``--hub``, ``--connection-string`` | ``--negotiate``, ``--user`` and ``--connect-timeout``.

    >>> parser = argparse.ArgumentParser(); add_group_arguments(parser)
    >>> parser.parse_args(["lab", "--negotiate", "http://127.0.0.1:8080/negotiate"]).hub is None
    True
    """
    p.add_argument("group", metavar="GROUP", help="the group")
    p.add_argument("--hub", default=None, help="the hub (default: stream; not with --negotiate, which decides it)")
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--connection-string",
        metavar="CS",
        help=f"the service's connection string (default: ${ENV_VARIABLES[0]} or ${ENV_VARIABLES[1]})",
    )
    where.add_argument(
        "--negotiate",
        metavar="URL",
        help="a /negotiate endpoint that hands out client URLs (e.g. the one `wpsnb demo` prints)",
    )
    p.add_argument("--user", default=None, help="the user id to connect as (with a connection string or /negotiate)")
    p.add_argument("--connect-timeout", type=float, default=10.0, help="seconds to wait for the connection")


def source_from_args(args: argparse.Namespace) -> Source:
    """The source named by ``--connection-string``, ``--negotiate`` or the environment, checked before connecting.

    Raises :class:`CommandFailed` (exit status 2 for a bad group, URL or connection string, ``--hub`` with
    ``--negotiate``; 1 for none at all). Sets ``args.hub`` to ``stream`` when not given.
    """
    from ..protocol.names import group_name_problem

    problem = group_name_problem(args.group)
    if problem:
        raise CommandFailed(problem, EXIT_USAGE)
    if args.negotiate and args.hub is not None:
        raise CommandFailed(
            "--hub cannot be used with --negotiate: the /negotiate endpoint decides the hub (its URLs name it); "
            "drop --hub, or pass --connection-string to choose the hub",
            EXIT_USAGE,
        )
    args.hub = args.hub or "stream"
    if args.connection_string:
        source = args.connection_string
    elif args.negotiate:
        source = args.negotiate
        if not source.lower().startswith(("http://", "https://")):
            raise CommandFailed(
                f"--negotiate needs an http(s):// URL (e.g. http://127.0.0.1:8080/negotiate), got {source!r}",
                EXIT_USAGE,
            )
    else:
        source = environment_connection_string()
        if source is None:
            raise CommandFailed(NO_SOURCE)
    try:
        resolved = Source.of(source)  # reject an unusable source before connecting
    except InvalidSource as exc:
        raise CommandFailed(str(exc), EXIT_USAGE) from None
    if resolved.mints_tokens:
        from ..protocol.tokens import ConnectionString

        try:
            ConnectionString.parse(resolved.value)
        except ValueError as exc:
            raise CommandFailed(f"bad connection string: {exc}", EXIT_USAGE) from None
    return resolved
