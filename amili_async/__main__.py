"""``python -m amili_async``: the ``amili`` command (see ``python -m amili_async --help``)."""

import sys

from ._cli import main

sys.exit(main(prog="python -m amili_async"))
