"""User settings and keyboard shortcuts, kept in one YAML file in the user config dir.

People edit `settings.yaml` by hand to change shortcuts, so unknown keys are kept,
bad values fall back to the defaults (logged, never fatal), and the file is rewritten
atomically so a crash cannot leave half a file.
"""
from __future__ import annotations

import copy
import logging
import os
import tempfile
from pathlib import Path

import yaml

from annotator import paths

log = logging.getLogger(__name__)

# action id -> (default key sequence(s) separated by ";", description shown in Help > Shortcuts)
DEFAULT_SHORTCUTS: dict[str, tuple[str, str]] = {
    "open": ("Ctrl+O", "Open images, a video, a folder or a project"),
    "open_folder": ("Ctrl+Shift+O", "Open a folder of images"),
    "open_video": ("Ctrl+Shift+V", "Open a video file or a frame folder"),
    "relink": ("", "Point a missing image/video at its new location"),
    "export": ("Ctrl+E", "Export annotations"),
    "import": ("Ctrl+I", "Import annotations"),
    "quit": ("Ctrl+Q", "Quit"),
    "undo": ("Ctrl+Z", "Undo"),
    "redo": ("Ctrl+Shift+Z;Ctrl+Y", "Redo"),
    "tool_prompt": ("V", "Prompt tool: left click +, right/Shift click -, drag a box, Ctrl+click edits an object"),
    "tool_brush": ("B", "Brush: paint onto the selected object"),
    "tool_eraser": ("E", "Eraser: remove from the selected object"),
    "brush_bigger": ("]", "Bigger brush"),
    "brush_smaller": ("[", "Smaller brush"),
    "cycle_mask": ("M", "Cycle the candidate masks of an ambiguous click"),
    "commit": ("Return;N", "Commit the object and start the next one"),
    "deselect": ("Escape", "Cancel propagation / stop editing the selected object"),
    "delete_object": ("Delete", "Delete the selected object (all frames)"),
    "delete_range": ("Shift+Delete", "Delete the selected object's masks in a frame range"),
    "pick_label": ("T", "Pick the label of the selected object (type to filter; suggested labels first, "
                        "Enter takes the top one)"),
    "find_text": ("Ctrl+F", "Find objects by name: type labels (comma-separated) in the Find box, Enter"),
    "toggle_hide": ("H", "Hide / show the selected object"),
    "toggle_lock": ("L", "Lock / unlock the selected object"),
    "toggle_outlines": ("O", "Outlines only / filled masks"),
    "opacity_up": ("Shift+Up", "More mask opacity"),
    "opacity_down": ("Shift+Down", "Less mask opacity"),
    "zoom_fit": ("F;Ctrl+0", "Fit the image in the window"),
    "zoom_1to1": ("Ctrl+1", "Actual pixels (1:1)"),
    "zoom_in": ("Ctrl+=;Ctrl++", "Zoom in"),
    "zoom_out": ("Ctrl+-", "Zoom out"),
    "next_item": ("D;PgDown", "Next image / video"),
    "prev_item": ("A;PgUp", "Previous image / video"),
    "next_frame": ("Right;.", "Next frame"),
    "prev_frame": ("Left;,", "Previous frame"),
    "next_frame_10": ("Shift+Right", "10 frames forward"),
    "prev_frame_10": ("Shift+Left", "10 frames back"),
    "first_frame": ("Home", "First frame"),
    "last_frame": ("End", "Last frame"),
    "propagate_forward": ("P", "Propagate forward from this frame"),
    "propagate_backward": ("Shift+P", "Propagate backward from this frame"),
    "propagate_both": ("Alt+P", "Propagate both ways from this frame"),
    "next_flagged": ("G", "Next frame the review queue flagged (selects its object)"),
    "prev_flagged": ("Shift+G", "Previous flagged frame"),
    "mark_reviewed": ("R", "Mark the selected object (none: every object) reviewed on this frame, or not"),
    "segment_everything": ("Ctrl+Shift+E", "Segment everything on this image or frame (adds auto objects)"),
    "next_auto": ("J", "Select and show the next unaccepted auto object on this frame"),
    "prev_auto": ("Shift+J", "Select and show the previous unaccepted auto object"),
    "accept_auto": ("Y", "Accept the selected auto object (it becomes manual) and go to the next"),
    "reject_auto": ("X", "Reject (delete) the selected auto object and go to the next"),
    "accept_all_auto": ("Shift+Y", "Accept every auto object on this frame"),
    "reject_all_auto": ("Shift+X", "Reject (delete) every auto object on this frame"),
    "batch_run": ("", "Run propagate / segment everything / encode on all items"),
    "model_manager": ("Ctrl+M", "Model manager"),
    "shortcuts": ("F1", "This list of shortcuts"),
}
# Digits 1-9 pick the first nine labels; they are fixed so the label list can show them.
LABEL_DIGITS = [str(i) for i in range(1, 10)]

DEFAULTS: dict = {
    "last_folder": "",
    "opacity": 0.5,
    "outlines_only": False,
    "brush_radius": 12,
    "default_model": "",
    "propagate_all_objects": False,
    "window": {"geometry": "", "state": ""},
    "recent_projects": [],
    "ask_project_location": False,  # off: a new project is saved beside its first media
    "reopen_last_project": True,
    "shortcuts": {},
}


def settings_path() -> Path:
    return paths.config_dir() / "settings.yaml"


class Settings:
    """Dict-like settings with defaults; `save()` writes the YAML file atomically."""

    def __init__(self, path: Path | None = None):
        self.path = Path(path) if path else settings_path()
        self.data: dict = copy.deepcopy(DEFAULTS)
        self._load()

    def _load(self) -> None:
        if not self.path.exists():
            return
        try:
            loaded = yaml.safe_load(self.path.read_text(encoding="utf-8")) or {}
            if not isinstance(loaded, dict):
                raise ValueError("top level is not a mapping")
        except (OSError, ValueError, yaml.YAMLError) as e:
            log.warning("ignoring unreadable settings file %s: %s", self.path, e)
            return
        for k, v in loaded.items():
            if k in DEFAULTS and isinstance(DEFAULTS[k], dict) and not isinstance(v, dict):
                log.warning("settings %s: %r should be a mapping; using the default", self.path, k)
                continue
            self.data[k] = v

    def get(self, key: str, default=None):
        return self.data.get(key, default)

    def __getitem__(self, key: str):
        return self.data[key]

    def __setitem__(self, key: str, value) -> None:
        self.data[key] = value

    def shortcut(self, action: str) -> list[str]:
        """Key sequences for an action: the user's override if any, else the default."""
        user = (self.data.get("shortcuts") or {}).get(action)
        if user is None:
            user = DEFAULT_SHORTCUTS[action][0]
        if isinstance(user, (list, tuple)):
            seqs = [str(s) for s in user]
        else:
            seqs = str(user).split(";")
        return [s.strip() for s in seqs if s.strip()]

    def save(self) -> None:
        out = dict(self.data)
        # Write every shortcut out so people can see what to edit.
        sc = dict(out.get("shortcuts") or {})
        for action, (default, _) in DEFAULT_SHORTCUTS.items():
            sc.setdefault(action, default)
        out["shortcuts"] = sc
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".settings-", suffix=".yaml")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                yaml.safe_dump(out, f, sort_keys=True, allow_unicode=True)
            os.replace(tmp, self.path)
        except OSError as e:  # settings are a convenience; never lose work over them
            log.warning("could not write settings %s: %s", self.path, e)
