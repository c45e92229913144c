"""The command line: argparse, the console, progress, completion; the one place errors become
exit codes. `main` is the entry point of the `voipbin-iac` command."""

from .app import main

__all__ = ["main"]
