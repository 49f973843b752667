"""`python -m amili_async sandbox | demo`."""

import sys

from ._cli import main

sys.exit(main())
