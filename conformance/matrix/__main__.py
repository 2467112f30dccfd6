"""``python -m conformance.matrix``: the ``matrix`` subcommand on its own."""

import sys

from conformance.matrix._cli import main

sys.exit(main())
