"""Application entry point: `annotator [PATHS...]` opens the main window."""
from __future__ import annotations

import sys


def create_app():
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        # Fractional scale factors on HiDPI screens are passed through, not rounded.
        QGuiApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
        app = QApplication(sys.argv[:1])
        app.setApplicationName("Annotator")
        app.setOrganizationName("annotator")
        apply_resources(app)
    return app


def apply_resources(app) -> None:
    """The window icon and the style sheet from resources/ (a missing file is logged, not fatal)."""
    import logging

    from PySide6.QtGui import QIcon

    from annotator import paths

    try:
        app.setWindowIcon(QIcon(str(paths.resource("icons/annotator.svg"))))
        app.setStyleSheet(paths.resource("styles/app.qss").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        logging.getLogger(__name__).warning("resources: %s", e)


def run_app(paths: list[str], engine: str | None = None) -> int:
    from annotator.app.startup import prepare_process
    from annotator.gui import errors as gui_errors
    from annotator.gui.main_window import MainWindow

    prepare_process()
    app = create_app()
    win = MainWindow(paths, engine=engine)
    gui_errors.install_excepthook(lambda: win)
    win.resize(1280, 800) if not (win.settings.get("window") or {}).get("geometry") else None
    win.show()
    rc = app.exec()
    win.shutdown()
    return rc
