"""Application entry point (the full main window is built in annotator.gui.main_window)."""
from __future__ import annotations

import sys


def run_app(paths: list[str]) -> int:
    from PySide6.QtWidgets import QApplication, QMainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    try:
        from annotator.gui.main_window import MainWindow
    except ImportError:
        win = QMainWindow()
        win.setWindowTitle("Annotator")
    else:
        win = MainWindow(paths)
    win.resize(1280, 800)
    win.show()
    return app.exec()
