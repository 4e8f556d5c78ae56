"""Where projects live: the path of a new project (beside the media, or where the person says
when "Ask where to save new projects" is on), the project's place in the title and status
bar, File > Recent Projects, and reopening the last project on start (a setting, on by
default)."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QTimer
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QLabel, QMenu

from annotator.app import media as app_media
from annotator.core.store import Project

PROJECT_SUFFIX = Project.SUFFIX
MAX_RECENT = 10


class RecentProjects(QObject):
    def __init__(self, win):
        super().__init__(win)
        self.win = win
        self.status = QLabel("", win)
        self.status.setObjectName("status_project")
        win.statusBar().insertPermanentWidget(0, self.status)
        self.menu = QMenu("Recent &Projects", win)
        self.menu.aboutToShow.connect(self.fill_menu)
        file_menu = win.menuBar().actions()[0].menu()
        file_menu.insertMenu(win.actions["relink"], self.menu)
        self.ask_action = self._toggle("Ask where to save new projects", "ask_project_location",
                                       "Off: a new project is saved beside its first media (or in the user data "
                                       "folder when that folder is read-only)")
        self.reopen_action = self._toggle("Reopen the last project on start", "reopen_last_project", "")
        file_menu.insertAction(win.actions["relink"], self.ask_action)
        file_menu.insertAction(win.actions["relink"], self.reopen_action)
        file_menu.insertSeparator(win.actions["relink"])

    def _toggle(self, text: str, key: str, tip: str) -> QAction:
        a = QAction(text, self.win)
        a.setCheckable(True)
        a.setChecked(bool(self.win.settings.get(key)))
        a.setToolTip(tip)
        a.toggled.connect(lambda on, k=key: self.win.settings.__setitem__(k, on))
        return a

    # ---------------- a new project's place ----------------
    def new_project_path(self, media: Path) -> Path | None:
        """Beside the media by default; with "ask" on, where the person chooses (None: cancelled)."""
        default = self.default_path(media)
        if not self.win.settings.get("ask_project_location"):
            return default
        path, _ = QFileDialog.getSaveFileName(self.win, "Save the new project as", str(default),
                                              f"Annotator projects (*{PROJECT_SUFFIX})")
        if not path:
            return None
        return Path(path if path.endswith(PROJECT_SUFFIX) else path + PROJECT_SUFFIX)

    @staticmethod
    def default_path(media: Path) -> Path:
        return app_media.default_project_path(media)

    # ---------------- the open project ----------------
    def opened(self, path: Path, created: bool = False) -> None:
        """Show where the project lives and put it first in the recent list."""
        win = self.win
        path = Path(path).resolve()
        win.setWindowTitle(f"Annotator — {path.name} ({path.parent})")
        # the name only: a long path would crowd out the status messages (the title and the
        # tooltip say the folder)
        self.status.setText(f"Project: {path.name}")
        self.status.setToolTip(f"The project file: every edit is saved here as you make it.\n{path}")
        recent = [str(path)] + [p for p in self.recent() if p != str(path)]
        win.settings["recent_projects"] = recent[:MAX_RECENT]
        if created:
            win.statusBar().showMessage(f"New project saved as {path}", 6000)

    def closed(self) -> None:
        self.win.setWindowTitle("Annotator")
        self.status.setText("")

    def recent(self) -> list[str]:
        return [str(p) for p in self.win.settings.get("recent_projects", []) or []]

    def fill_menu(self) -> None:
        self.menu.clear()
        paths = self.recent()
        if not paths:
            self.menu.addAction("(none yet)").setEnabled(False)
        for p in paths:
            exists = Path(p).exists()
            a = self.menu.addAction(p if exists else f"{p} (missing)")
            a.setEnabled(exists)
            a.triggered.connect(lambda _=False, path=p: self.win.open_paths([path]))
        if paths:
            self.menu.addSeparator()
            self.menu.addAction("Clear the list", lambda: self.win.settings.__setitem__("recent_projects", []))

    def reopen_last(self) -> None:
        """On start without paths: the last project again, if the setting says so and it is there."""
        win = self.win
        if win.project is not None or not win.settings.get("reopen_last_project", True):
            return
        last = next(iter(self.recent()), None)
        if last and Path(last).exists():
            win.open_paths([last])

    def schedule_reopen(self) -> None:
        QTimer.singleShot(0, self.reopen_last)
