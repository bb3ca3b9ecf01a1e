"""The ``modelkeep`` command line: one Typer app (:mod:`modelkeep.cli.app`), one module per
command group.

Nothing is imported here, so ``python -m modelkeep.cli.app`` runs the module once.
"""
