"""The CLIP modules keep the layer rules: importing them loads neither torch, Qt, tokenizers nor
transformers (the work imports what it needs when it runs)."""
import subprocess
import sys


def test_clip_modules_import_light():
    code = ("import sys\n"
            "import annotator.engines.clip_session, annotator.engines.clip_model, annotator.engines.text_find\n"
            "import annotator.engines.label_suggest, annotator.eval.labels, annotator.core.box_nms\n"
            "import annotator.commands.labels, annotator.commands.segment, annotator.bench.clip\n"
            "heavy = [m for m in ('torch', 'PySide6', 'tokenizers', 'transformers') if m in sys.modules]\n"
            "print(heavy)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
