"""``python -m textenvs``: the ``textenvs`` command, for environments where the console script is not on PATH."""

import sys

from textenvs.cli import main

sys.exit(main())
