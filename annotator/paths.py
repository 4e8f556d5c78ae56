"""User directories (platformdirs). ANNOTATOR_HOME overrides all of them (tests, portable use)."""
from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP = "annotator"


def _base(kind: str) -> Path:
    home = os.environ.get("ANNOTATOR_HOME")
    if home:
        p = Path(home) / kind
    else:
        p = Path(getattr(platformdirs, f"user_{kind}_dir")(APP, appauthor=False))
    p.mkdir(parents=True, exist_ok=True)
    return p


def config_dir() -> Path:
    return _base("config")


def cache_dir() -> Path:
    return _base("cache")


def log_dir() -> Path:
    return _base("log")


def data_dir() -> Path:
    return _base("data")


def models_dir() -> Path:
    """Where downloaded/imported checkpoints live (ANNOTATOR_MODELS_DIR overrides)."""
    env = os.environ.get("ANNOTATOR_MODELS_DIR")
    p = Path(env) if env else cache_dir() / "models"
    p.mkdir(parents=True, exist_ok=True)
    return p


def repo_root() -> Path:
    return Path(__file__).resolve().parents[1]


def bundled(folder: str) -> Path:
    """A top-level folder the app ships with (models, resources, plugins): the copy an installed wheel
    carries under annotator/_data/ (setup.py puts it there), else the checkout's own."""
    packaged = Path(__file__).resolve().parent / "_data" / folder
    return packaged if packaged.is_dir() else repo_root() / folder


def cards_dir() -> Path:
    """Model cards: ANNOTATOR_CARDS_DIR, else the cards shipped with the app."""
    env = os.environ.get("ANNOTATOR_CARDS_DIR")
    return Path(env) if env else bundled("models")


def resource(name: str) -> Path:
    """A file under resources/ (icons, style sheets, sample media) by its relative name."""
    base = bundled("resources").resolve()
    p = (base / name).resolve()
    if base not in p.parents or not p.is_file():
        raise FileNotFoundError(f"{name}: no such resource in {base}")
    return p
