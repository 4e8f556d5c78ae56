"""User-facing errors: each carries a one-line message naming the file and the problem.

The CLI prints `str(err)` to stderr and exits non-zero; the GUI shows it in a dialog.
Anything that is not an AnnotatorError is a bug and gets a traceback in the log.
"""
import re

# C0 controls but tab, newline and carriage return (progress lines), DEL, and C1 controls:
# what a terminal may act on. A name from a file must print as text, never as a command.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\x80-\x9f]")


def printable(text: str) -> str:
    """`text` with terminal control characters (ANSI escapes...) shown as \\xNN."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


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
