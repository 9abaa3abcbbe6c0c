"""The ranked checks, one module each, all with one signature:

    check(profile, hardware, setup, measurements) -> Finding

`core.diagnosis` runs them in the diagnostic order (most likely cause first) and ranks the result.
"""
