"""The one base exception of pytest-asyncplay and its specific subclasses.

Every message names the cause and ends with a ``Hint:`` that says how to fix it.
"""

from __future__ import annotations


class AsyncplayError(Exception):
    """Base class of every error pytest-asyncplay raises on purpose."""

    def __init__(self, message: str, hint: str = "") -> None:
        self.message = message
        self.hint = hint
        super().__init__(f"{message}\nHint: {hint}" if hint else message)


class DockerUnavailableError(AsyncplayError):
    """The Docker engine cannot be reached."""


class ImageBuildError(AsyncplayError):
    """The target image (or the base it builds from) could not be built."""


class HostStartError(AsyncplayError):
    """A host container did not start or never answered SSH."""


class PlaybookNotFoundError(AsyncplayError):
    """The playbook path given to ``run`` does not exist."""


class InventoryError(AsyncplayError):
    """The repository inventory given to the marker cannot be read or mapped onto containers."""


class FaultError(AsyncplayError):
    """A fault was declared with arguments that cannot work."""


class PlaybookSyntaxError(AsyncplayError):
    """A playbook (or a file it includes) cannot be parsed for the audit or lint."""


class RelayError(AsyncplayError):
    """The relay in front of a host's SSH port stopped with an error, so the play's connections were not the ones
    the test asked for (the exception that stopped it is the ``__cause__``; ``result`` holds the play, if it ran)."""

    def __init__(self, message: str, hint: str = "", result: object = None) -> None:
        super().__init__(message, hint)
        #: The ``PlayResult`` of the play the relay broke, for the evidence (None when it broke before the play).
        self.result = result


class ReportMergeError(AsyncplayError):
    """The reports given to ``merge-reports`` cannot be merged into one run's (not a report, another
    schema, a row or test in two shards, a shard missing)."""


class CommandLineError(AsyncplayError):
    """``asyncplay`` was given a command line that cannot work (a path that does not exist, a file outside
    ``--context``): it exits 2 with the cause and the fix."""
