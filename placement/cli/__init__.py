"""The ``placement`` command: typer only (parse, call, print, write)."""

from placement.cli.app import main

__all__ = ["main"]
