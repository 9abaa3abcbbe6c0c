"""`python -m core` runs the command-line interface."""

import sys

from core.cli.main import main

sys.exit(main())
