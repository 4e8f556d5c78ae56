"""The pinned Qt binding must not leak references to None.

PySide6 6.12.0 drops one reference to None on every call of a Qt method that returns
nothing; on Python < 3.12 the interpreter aborts after a few thousand such calls
("deallocating None"). requirements.lock pins a build without that bug; this test
fails if a pin ever brings it back.
"""
import sys

from PySide6.QtWidgets import QWidget


def test_void_qt_calls_keep_none_refcount(qapp):
    w = QWidget()
    before = sys.getrefcount(None)
    for _ in range(2000):
        w.update()
    assert abs(sys.getrefcount(None) - before) < 100
