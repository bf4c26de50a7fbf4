"""wpsnb's benchmarks: each measures the project against a baseline in the same run.

Run them with ``python -m bench`` (``make bench``) or ``python -m bench --quick``
(``make bench-quick``); see :mod:`bench.__main__`. One module per benchmark (``fanout``,
``latency``, ``rest_send``, ``client_publish``, ``widget_ingest``, ``idle_memory``; the
``%%publish`` overhead is ``bench_publish``), plus the pieces they share: the servers under test
in pinned child processes (``servers``, ``baseline_server``), the raw load generator (``wsraw``,
``targets``), the machine (``machine``) and the result rows (``results``).
"""
