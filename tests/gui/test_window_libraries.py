"""Start-up names the system packages Qt's X11 plugin needs instead of letting Qt abort
(issue 14, item 10)."""
from annotator.gui.app import missing_window_libraries


def _find(present):
    return lambda name: f"lib{name}.so" if name in present else None


def test_missing_xcb_cursor_is_named_with_its_package():
    got = missing_window_libraries({"DISPLAY": ":0"}, "linux", _find({"xkbcommon-x11", "xcb-icccm", "xcb-keysyms",
                                                                     "xcb-image", "xcb-render-util", "xcb-shape"}))
    assert got == ["libxcb-cursor0"]


def test_nothing_is_checked_where_x11_is_not_used():
    none = _find(set())
    assert missing_window_libraries({"QT_QPA_PLATFORM": "offscreen"}, "linux", none) == []
    assert missing_window_libraries({"WAYLAND_DISPLAY": "wayland-0"}, "linux", none) == []
    assert missing_window_libraries({}, "darwin", none) == []
    assert len(missing_window_libraries({"QT_QPA_PLATFORM": "xcb"}, "linux", none)) == 7


def test_the_app_refuses_to_start_in_one_line(monkeypatch, capsys):
    from annotator.gui import app

    monkeypatch.setattr(app, "missing_window_libraries", lambda: ["libxcb-cursor0"])
    assert app.run_app([]) == 1
    err = capsys.readouterr().err.strip()
    assert err.endswith("sudo apt install libxcb-cursor0") and len(err.splitlines()) == 1
