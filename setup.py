"""Build hook: the wheel carries the top-level models/ (cards), resources/ and plugins/ folders.

The checkout keeps them at the top level (their source of truth); the wheel gets a copy under
annotator/_data/, where annotator.paths finds them when no checkout is around. Everything
else about the build lives in pyproject.toml."""
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
BUNDLED = {"models": ("*.yaml", "*.md"), "resources": ("*",), "plugins": ("*.py",)}


class build_py_with_data(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the checkout's folders directly
        for folder, patterns in BUNDLED.items():
            dest = Path(self.build_lib) / "annotator" / "_data" / folder
            for pattern in patterns:
                for src in sorted((HERE / folder).rglob(pattern)):
                    if src.is_file() and "__pycache__" not in src.parts:
                        out = dest / src.relative_to(HERE / folder)
                        out.parent.mkdir(parents=True, exist_ok=True)
                        shutil.copy2(src, out)


setup(cmdclass={"build_py": build_py_with_data})
