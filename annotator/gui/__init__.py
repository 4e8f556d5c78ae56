"""The PySide6 application (the only package that imports Qt)."""
from annotator.gui._immortal import make_singletons_immortal

make_singletons_immortal()
