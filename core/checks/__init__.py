"""The checks, one module each, listed in core.checks.registry. Each module has

    run(inputs: CheckInput) -> Finding          (its one entry point; tests call it too)
    CHECK = Check(id=..., order=..., run=run, needs=..., blames_quant=..., hub_fixable=...)

`core.diagnosis` runs the registry in the diagnostic order (most likely cause first) and ranks the result.
Modules that are not checks (base, finding, measurements, registry and the helpers the checks share:
engine_observations, evidence, fixes, names, tiers) are listed as such in pyproject.toml's contracts.
"""
