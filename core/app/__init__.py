"""The session layer: the one door both front ends use (docs/ARCHITECTURE.md, "The session layer").

`Case` is what is known about the person's model, machine and setup; `Session` holds it and does what
a person does (open, import, connect, compare, re-diagnose, export). The other modules here decide
what the front ends show (advice, found-model badges, plain words, step states) and pass through the
domain's operations, so that `gui` and `core.cli` import nothing of the domain but `core.app.types`.
"""
