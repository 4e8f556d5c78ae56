"""Annotator: mask annotation for images and videos with lightweight SAM-family models."""

__version__ = "0.1.0"
