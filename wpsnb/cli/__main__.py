"""``python -m wpsnb.cli``: the ``wpsnb`` command without its console script."""

import sys

from . import main

if __name__ == "__main__":  # not when imported (e.g. by the docstring-example test)
    sys.exit(main())
