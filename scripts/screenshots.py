"""Take the README screenshots with the real app under Xvfb.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots] [--engine classic]

Starts its own Xvfb (if DISPLAY is not set and Xvfb is installed; `apt-get install xvfb`),
copies media from ../shared/data into a temp folder, drives the main window the way a
person would (box prompts, labels, propagation) and saves PNGs:
  image_two_objects.png   an image with two labelled objects
  video_propagating.png   a video mid-propagation (progress bar, swimlanes filling in)
  image_dark.png          the image view with a dark palette
  shortcuts.png           Help > Keyboard shortcuts
  model_manager.png       Models > Model manager
  first_run.png           the first-run screen (no learned model installed), mid one-click download
  everything_review.png   Segment everything's auto objects on a photo, two accepted, mid review
  review_queue.png        the Review dock and timeline flags after propagating a DAVIS clip
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = Path(os.environ.get("ANNOTATOR_SHARED", ROOT.parent / "shared")) / "data"
SHOTS = ("image", "video", "dark", "shortcuts", "models", "first_run", "everything", "review")


def start_xvfb() -> subprocess.Popen | None:
    if os.environ.get("DISPLAY") or not shutil.which("Xvfb"):
        return None
    display = ":97"
    proc = subprocess.Popen(["Xvfb", display, "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    os.environ["DISPLAY"] = display
    return proc


def wait_for(cond, timeout=120.0):
    from PySide6.QtCore import QEventLoop, QTimer

    t0 = time.perf_counter()
    while not cond():
        if time.perf_counter() - t0 > timeout:
            raise TimeoutError("timed out")
        loop = QEventLoop()
        QTimer.singleShot(20, loop.quit)
        loop.exec()


def settle(ms=400):
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def dark_palette():
    from PySide6.QtGui import QColor, QPalette

    pal = QPalette()
    roles = {
        QPalette.ColorRole.Window: (45, 45, 48), QPalette.ColorRole.WindowText: (230, 230, 230),
        QPalette.ColorRole.Base: (30, 30, 32), QPalette.ColorRole.AlternateBase: (45, 45, 48),
        QPalette.ColorRole.Text: (230, 230, 230), QPalette.ColorRole.Button: (55, 55, 58),
        QPalette.ColorRole.ButtonText: (230, 230, 230), QPalette.ColorRole.Highlight: (42, 130, 218),
        QPalette.ColorRole.HighlightedText: (255, 255, 255), QPalette.ColorRole.ToolTipBase: (60, 60, 60),
        QPalette.ColorRole.ToolTipText: (230, 230, 230), QPalette.ColorRole.Mid: (90, 90, 90),
        QPalette.ColorRole.PlaceholderText: (150, 150, 150),
    }
    for role, rgb in roles.items():
        pal.setColor(role, QColor(*rgb))
    return pal


def shoot(win, path: Path) -> None:
    settle(300)
    win.grab().save(str(path))
    print(f"wrote {path}")


def image_shot(out: Path, work: Path, engine: str, name: str) -> None:
    from annotator.gui.main_window import MainWindow

    img = work / "groceries"
    img.mkdir(exist_ok=True)
    shutil.copy(DATA / "images_groceries.jpg", img / "images_groceries.jpg")
    shutil.copy(DATA / "images_truck.jpg", img / "images_truck.jpg")
    win = MainWindow([str(img)], engine=engine)
    win.resize(1440, 900)
    win.show()
    wait_for(lambda: win.item is not None and win._shown_key == win._key())
    for label, box in (("paper bag", (368, 168, 447, 342)), ("paper bag", (505, 172, 582, 340)),
                       ("car", (20, 0, 760, 534))):
        if label == "car":
            break  # two objects are enough for the picture; the label list shows a third label
        win.choose_label(label)
        win.on_box(*box, time.perf_counter())
        wait_for(lambda: win.prompt is not None and win.prompt.candidates is not None
                 and win.prompt.candidates.gen == win._gen)
        win.commit_object()
    win.project.add_category("car")
    # select the second object so its outline is highlighted
    win.select_track(win.project.tracks(win.item.id)[-1].id)
    settle(600)
    shoot(win, out / name)
    win.shutdown()
    win.close()


def video_shot(out: Path, work: Path, engine: str) -> None:
    """DAVIS car-shadow frames (a frame folder): the car and a pedestrian, mid-propagation."""
    from annotator.gui.main_window import MainWindow

    src = DATA / "davis2016" / "JPEGImages" / "480p" / "car-shadow"
    vid = work / "car-shadow"
    shutil.copytree(src, vid)
    win = MainWindow([str(vid)], engine=engine)
    win.resize(1440, 900)
    win.show()
    wait_for(lambda: win.item is not None and win._shown_key == win._key())
    for label, box in (("car", (310, 96, 660, 284)), ("person", (324, 112, 351, 162))):
        win.choose_label(label)
        win.on_box(*box, time.perf_counter())
        wait_for(lambda: win.prompt is not None and win.prompt.candidates is not None
                 and win.prompt.candidates.gen == win._gen)
        win.commit_object()
    done = []
    win.worker.propagated.connect(lambda *a: done.append(a[1]))
    win.start_propagation("forward")
    wait_for(lambda: len(done) >= 22, timeout=600)
    settle(500)  # let the batched writes land and the view follow
    shoot(win, out / "video_propagating.png")
    win.cancel_propagation()
    wait_for(lambda: not win.propagating, timeout=120)
    win.shutdown()
    win.close()


def everything_shot(out: Path, work: Path, engine: str) -> None:
    """Tools > Segment everything on the groceries photo (grid, 5 points per side), then the
    review keys' actions: two objects accepted, the third selected for review."""
    from annotator.gui.main_window import MainWindow
    from annotator.gui.segment_everything import EverythingRequest

    img = work / "photo"
    img.mkdir(exist_ok=True)
    shutil.copy(DATA / "images_groceries.jpg", img / "images_groceries.jpg")
    win = MainWindow([str(img)], engine=engine)
    win.resize(1440, 900)
    win.show()
    wait_for(lambda: win.item is not None and win._shown_key == win._key())
    win.everything.start(EverythingRequest("", mode="grid", nms="mask", points_per_side=5))
    wait_for(lambda: win.everything.last_status is not None, timeout=900)
    print(f"segment everything: {win.everything.last_status}, {len(win.everything.added)} objects")
    win.auto_review.accept()
    win.auto_review.accept()
    settle(600)
    shoot(win, out / "everything_review.png")
    win.shutdown()
    win.close()


def review_shot(out: Path, work: Path, engine: str) -> None:
    """motocross-jump (40 frames): the first frame's ground-truth mask as the person's, propagated
    forward; the Review dock lists the flagged frames and the lane carries their notches."""
    from annotator.gui.main_window import MainWindow
    from annotator.media import load_image

    seq = "motocross-jump"
    vid = work / seq
    vid.mkdir()
    for f in sorted((DATA / "davis2016" / "JPEGImages" / "480p" / seq).glob("*.jpg"))[:40]:
        shutil.copy(f, vid / f.name)
    gt = load_image(DATA / "davis2016" / "Annotations" / "480p" / seq / "00000.png")[..., 0] > 127
    win = MainWindow([str(vid)], engine=engine)
    win.resize(1440, 900)
    win.show()
    wait_for(lambda: win.item is not None and win._shown_key == win._key())
    win.choose_label("rider")
    t = win.project.add_track(win.item.id, category_id=win.project.ensure_category("rider").id)
    win.project.set_mask(t.id, 0, gt, source="manual")
    win.select_track(t.id)
    win.start_propagation("forward")
    wait_for(lambda: not win.propagating, timeout=900)
    r = win.review
    wait_for(lambda: r.queue is not None and not r.computing and not r._timer.isActive() and r.shown, timeout=300)
    top = r.shown[0]  # the most suspect frame, as a click on the queue's first row goes there
    win.go_frame(top.frame)
    win.select_track(top.track_id)
    wait_for(lambda: win._shown_key == win._key())
    settle(800)
    print(f"review queue: {len(r.shown)} flagged frames, at frame {win.frame}")
    shoot(win, out / "review_queue.png")
    win.shutdown()
    win.close()


def shortcuts_shot(out: Path) -> None:
    from annotator.gui.dialogs import ShortcutsDialog
    from annotator.gui.settings import Settings

    dlg = ShortcutsDialog(Settings())
    dlg.resize(560, 820)
    dlg.show()
    settle(300)
    dlg.grab().save(str(out / "shortcuts.png"))
    print(f"wrote {out / 'shortcuts.png'}")
    dlg.close()


def models_shot(out: Path) -> None:
    from annotator.gui.models_dialog import ModelManagerDialog

    dlg = ModelManagerDialog()
    dlg.resize(1100, 600)
    dlg.show()
    wait_for(lambda: dlg.idle, timeout=300)
    settle(300)
    dlg.grab().save(str(out / "model_manager.png"))
    print(f"wrote {out / 'model_manager.png'}")
    dlg.close()


def first_run_shot(out: Path) -> None:
    """The first-run screen while its one-click download runs (a local server serves the file
    slowly, so the progress bar is caught mid-way; nothing leaves the machine)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import yaml

    from annotator.gui.main_window import MainWindow

    mobilesam = yaml.safe_load((ROOT / "models" / "mobilesam.yaml").read_text())
    body = bytes(mobilesam["checkpoint"]["size"])  # the size the card expects

    class Slow(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                for i in range(0, len(body), 1 << 18):
                    self.wfile.write(body[i:i + (1 << 18)])
                    time.sleep(0.05)
            except (BrokenPipeError, ConnectionResetError):
                pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    cards = Path(os.environ["ANNOTATOR_HOME"]) / "cards"
    cards.mkdir(parents=True, exist_ok=True)
    for name in ("mobilesam", "edgetam"):
        card = yaml.safe_load((ROOT / "models" / f"{name}.yaml").read_text())
        if name == "mobilesam":
            card["checkpoint"]["urls"] = [f"http://127.0.0.1:{httpd.server_address[1]}/mobile_sam.pt"]
        (cards / f"{name}.yaml").write_text(yaml.safe_dump(card))
    os.environ["ANNOTATOR_CARDS_DIR"] = str(cards)
    os.environ["no_proxy"] = "127.0.0.1"
    win = MainWindow([], engine="classic")
    win.resize(1440, 900)
    win.show()
    wait_for(lambda: win.first_run.checked)
    win.first_run.buttons["mobilesam"].click()
    wait_for(lambda: win.first_run.progress.value() > 250)
    shoot(win, out / "first_run.png")
    win.first_run.cancel()
    wait_for(lambda: not win.first_run.jobs.busy)
    win.shutdown()
    win.close()
    httpd.shutdown()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    ap.add_argument("--engine", default="classic")
    ap.add_argument("--only", choices=list(SHOTS), default=None)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    xvfb = start_xvfb()
    try:
        if args.only is None:
            # one process per picture: each starts from fresh settings and a fresh palette
            for what in SHOTS:
                rc = subprocess.call([sys.executable, __file__, "--out", str(args.out), "--engine", args.engine,
                                      "--only", what])
                if rc:
                    return rc
            return 0
        return run_one(args)
    finally:
        if xvfb is not None:
            xvfb.terminate()
            xvfb.wait(10)


def run_one(args) -> int:
    work = Path(tempfile.mkdtemp(prefix="annotator-shots-"))
    os.environ["ANNOTATOR_HOME"] = str(work / "home")  # fresh settings, no user state
    os.environ.setdefault("QT_QPA_PLATFORM", "xcb" if os.environ.get("DISPLAY") else "offscreen")
    from PySide6.QtWidgets import QApplication

    from annotator.gui.app import create_app
    from annotator.gui import errors

    errors.DIALOGS_ENABLED = False
    app = create_app()
    app.setStyle("Fusion")
    if args.only == "dark":
        app.setPalette(dark_palette())
    try:
        if args.only == "image":
            image_shot(args.out, work, args.engine, "image_two_objects.png")
        elif args.only == "dark":
            image_shot(args.out, work, args.engine, "image_dark.png")
        elif args.only == "video":
            video_shot(args.out, work, args.engine)
        elif args.only == "shortcuts":
            shortcuts_shot(args.out)
        elif args.only == "models":
            models_shot(args.out)
        elif args.only == "first_run":
            first_run_shot(args.out)
        elif args.only == "everything":
            everything_shot(args.out, work, args.engine)
        elif args.only == "review":
            review_shot(args.out, work, args.engine)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if errors.shown:
        print("messages shown:", errors.shown)
    QApplication.instance().quit()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
