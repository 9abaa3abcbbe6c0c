"""The checks, one module each, listed in core.checks.registry. Each module has

    check(profile, hardware, setup, measurements) -> Finding      (called directly by tests)
    CHECK = Check(id=..., order=..., run=..., needs=...)           (what the registry lists)

`core.diagnosis` runs the registry in the diagnostic order (most likely cause first) and ranks the result.
"""
