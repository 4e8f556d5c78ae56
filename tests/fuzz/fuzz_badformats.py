"""Importers that fail in each way the fuzz harness must tell apart (its self-test)."""
import ctypes
import time

from annotator.errors import FormatError


class _Bad:
    def __init__(self, how):
        self.how = how

    def load(self, project, path, **opts):
        if self.how == "writes_then_refuses":  # changes the project outside an atomic import
            project.add_category("leaked")
            raise FormatError(f"{path}: refused after writing")
        if self.how == "segfault":
            ctypes.string_at(0)
        if self.how == "loops":
            while True:
                time.sleep(0.01)
        if self.how == "hogs":
            return bytearray(8 * 1024 ** 3)
        if self.how == "bug":
            return {}["missing"]
        if self.how == "vague":
            raise FormatError("something went wrong")
        if self.how == "fine":
            return None
        raise AssertionError(self.how)


FORMATS = {h: _Bad(h) for h in ("writes_then_refuses", "segfault", "loops", "hogs", "bug", "vague", "fine")}
