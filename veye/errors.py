"""Errors raised by the wiring; the CLI turns each into one line and an exit code.

::

    VeyeError
    ├── ConfigError         config.yaml cannot be read or is invalid (names key path and line)
    ├── UsageError          a command was asked for something that does not exist
    └── AlreadyRunning      another daemon holds the database
"""

from __future__ import annotations


class VeyeError(Exception):
    """Base of the errors the wiring raises."""

    #: Process exit status when this error ends a command.
    exit_code = 1


class ConfigError(VeyeError):
    """The configuration cannot be used."""

    exit_code = 78  # EX_CONFIG


class UsageError(VeyeError):
    """A command was asked for something that does not exist."""

    exit_code = 2


class AlreadyRunning(VeyeError):
    """Another ``veye run`` holds this database."""

    exit_code = 75  # EX_TEMPFAIL
