"""veye: watch Haitian news, flag prison breaks and gang attacks, tell the people who need it.

This package wires ``crawler``, ``storage`` and ``alerts``: config, pipeline, daemon and CLI.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("veye")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
