"""Application entry point: `annotator [PATHS...]` opens the main window."""
from __future__ import annotations

import sys


# What Qt's xcb platform plugin loads at start-up (Qt >= 6.5 needs xcb-cursor), and the Debian /
# Ubuntu package of each: without them Qt aborts with a message that does not say what to install.
XCB_LIBRARIES = {
    "xcb-cursor": "libxcb-cursor0",
    "xkbcommon-x11": "libxkbcommon-x11-0",
    "xcb-icccm": "libxcb-icccm4",
    "xcb-keysyms": "libxcb-keysyms1",
    "xcb-image": "libxcb-image0",
    "xcb-render-util": "libxcb-render-util0",
    "xcb-shape": "libxcb-shape0",
}


def missing_window_libraries(env=None, platform: str | None = None, find_library=None) -> list[str]:
    """Debian packages Qt's X11 plugin needs that are not installed; [] off Linux, offscreen or
    on another Qt platform plugin."""
    import ctypes.util
    import os

    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    find_library = ctypes.util.find_library if find_library is None else find_library
    qpa = env.get("QT_QPA_PLATFORM", "")
    if not platform.startswith("linux") or (qpa and not qpa.startswith("xcb")):
        return []
    if not qpa and env.get("WAYLAND_DISPLAY") and not env.get("DISPLAY"):
        return []  # Qt picks its Wayland plugin there
    return [pkg for lib, pkg in XCB_LIBRARIES.items() if find_library(lib) is None]


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

    missing = missing_window_libraries()
    if missing:
        print("annotator: Qt cannot open a window without these system libraries: "
              f"sudo apt install {' '.join(missing)}", file=sys.stderr)
        return 1
    prepare_process()
    app = create_app()
    win = MainWindow(paths, engine=engine)
    gui_errors.install_excepthook(lambda: win)
    win.resize(1280, 800) if not (win.settings.get("window") or {}).get("geometry") else None
    win.show()
    rc = app.exec()
    win.shutdown()
    return rc
