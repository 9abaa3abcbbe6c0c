"""`python -m core` runs the command-line interface."""

import sys

from core.cli import main

sys.exit(main())
