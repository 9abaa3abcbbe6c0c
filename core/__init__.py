"""Quant Doctor's brain: readers, checks and measurements, with no Qt in sight.

Everything here runs headless so the CLI, the tests and the GUI share one implementation.
"""

__version__ = "0.1.0"
