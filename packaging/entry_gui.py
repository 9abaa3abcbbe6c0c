"""Bundle entry point for the window (PyInstaller needs a script, not an entry-point spec)."""

import sys

from gui.app import main

sys.exit(main())
