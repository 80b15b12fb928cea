"""The command line: `clausewatch COMMAND`, one module per group of commands (track, publish,
browse, rules) over shared helpers (base). Each command imports what it needs when it runs.
"""

from monitor.cli.main import main

__all__ = ["main"]
