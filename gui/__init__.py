"""Quant Doctor's window: a thin layer that shows core objects and runs core jobs off the UI thread."""
