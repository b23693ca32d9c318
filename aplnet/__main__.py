"""``python -m aplnet``: the command line (the REPL when given no command)."""

import sys

from .cli import main

sys.exit(main())
