"""Bundle entry point for the command line; also runs child processes (`--run-module`)."""

import sys

from core.cli.main import main

sys.exit(main())
