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


def cards_dir() -> Path:
    """Model cards: ANNOTATOR_CARDS_DIR, else the checkout's models/ folder."""
    env = os.environ.get("ANNOTATOR_CARDS_DIR")
    return Path(env) if env else repo_root() / "models"
