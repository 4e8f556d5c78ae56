"""The import/export controller: the non-modal export and import dialogs (one of each at a
time). The work runs off the GUI thread (gui/transfer.py); while an import is checked and
applied, edits wait, since it becomes one undo step."""
from __future__ import annotations

from PySide6.QtCore import QObject


class TransferController(QObject):
    def __init__(self, win):
        super().__init__(win)
        self.win = win
        self.dialogs: dict = {}  # "export"/"import" -> its dialog (kept after closing, until the next)

    def export_dialog(self) -> None:
        win = self.win
        if win.project is None:
            return
        from annotator.gui.dialogs import ExportDialog

        self._show("export", lambda: ExportDialog(win.project, win.item.id if win.item else None, win))

    def import_dialog(self) -> None:
        win = self.win
        if win.project is None:
            return
        from annotator.gui.dialogs import ImportDialog

        self._show("import", lambda: ImportDialog(win.project, win))

    def _show(self, mode: str, make):
        dlg = self.dialogs.get(mode)
        if dlg is not None and dlg.isVisible():
            dlg.raise_()
            dlg.activateWindow()
            return dlg
        if dlg is not None:
            dlg.deleteLater()  # the previous one, closed (kept until now for whoever still looks at it)
        dlg = make()
        dlg.setModal(False)
        dlg.finished.connect(lambda result, m=mode: self._on_closed(m, result))
        self.dialogs[mode] = dlg
        dlg.show()
        return dlg

    def _on_closed(self, mode: str, result: int) -> None:
        win = self.win
        if mode == "import" and result and win.project is not None:
            win.navigation.refresh_files()
            win.display.refresh_labels()
            if win.item is None and win.project.items():
                win.navigation.go_item(win.project.items()[0].id)
            win.display.schedule_refresh()
        win.display.update_enabled()

    @property
    def importing(self) -> bool:
        dlg = self.dialogs.get("import")
        return dlg is not None and dlg.busy

    def dialog(self, mode: str):
        """The export/import dialog now open, else None."""
        dlg = self.dialogs.get(mode)
        return dlg if dlg is not None and dlg.isVisible() else None

    def shutdown(self) -> None:
        for dlg in list(self.dialogs.values()):
            dlg.shutdown()

    def close_all(self) -> None:
        for dlg in list(self.dialogs.values()):
            dlg.shutdown()
            dlg.close()
        self.dialogs.clear()
