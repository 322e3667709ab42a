"""The `foliosync` command line. Each command group lives in its own module under this package."""

from foliosync.cli.main import app, main

__all__ = ["app", "main"]
