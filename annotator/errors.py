"""User-facing errors: each carries a one-line message naming the file and the problem.

The CLI prints `str(err)` to stderr and exits non-zero; the GUI shows it in a dialog.
Anything that is not an AnnotatorError is a bug and gets a traceback in the log.
"""


class AnnotatorError(Exception):
    """Base class for errors caused by user input (files, arguments), not by bugs."""


class MediaError(AnnotatorError):
    """An image or video cannot be read (missing, corrupt, unsupported, too large)."""


class FormatError(AnnotatorError):
    """An annotation file cannot be imported or exported."""


class ProjectError(AnnotatorError):
    """A project file cannot be opened or changed."""


class ProjectLockedError(ProjectError):
    """The project is open in another process."""


class CheckpointError(AnnotatorError):
    """A model checkpoint is missing, corrupt, or belongs to another model."""


class ModelNotAvailableError(AnnotatorError):
    """A model card exists but its architecture or weights are not available."""


class OutputError(AnnotatorError):
    """An output path cannot be written (it is a project, a folder, or an impossible name)."""
