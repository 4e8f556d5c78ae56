"""The one thread that owns the inference engine.

The GUI thread never runs a model. It posts requests here; each prompt request carries
a generation number, and a request whose generation is older than the newest one the
GUI has issued is skipped, so fast clicking never queues up seconds of stale work (the
newest request already contains all earlier clicks). When idle, the worker encodes
the images/frames the GUI said come next, so switching to them is instant where the
engine caches encodings. Propagation runs here too, frame by frame, with a cancel flag
checked between frames; each frame's masks are RLE-encoded here and streamed back. Other
long jobs (segment everything) run here as tasks (run_task) with the same cancel flag, so
they share the engine and its cached encodings instead of loading a second model.
"""
from __future__ import annotations

import contextlib
import gc
import logging
import os
import queue
import sys
import threading
import time
from dataclasses import dataclass, field

import numpy as np
from PySide6.QtCore import QThread, Signal

from annotator.media.frame_cache import FrameCache

log = logging.getLogger(__name__)


@dataclass
class PredictResult:
    gen: int
    key: tuple  # (path, kind, frame)
    rles: list  # COCO RLE per candidate: the only form masks cross threads in
    scores: np.ndarray
    best: int
    lowres_logits: np.ndarray | None
    ctx: dict = field(default_factory=dict)
    encode_ms: float = 0.0
    predict_ms: float = 0.0


@dataclass
class PropagateJob:
    job_id: int
    path: str
    kind: str
    start: int
    direction: str
    stop: int | None
    seeds: dict  # obj_id -> RLE on the start frame
    ctx: dict = field(default_factory=dict)


class EngineWorker(QThread):
    engineReady = Signal(str, str, str)  # name, device, video engine name
    enginesListed = Signal(object)  # engine names usable now (classic first)
    engineFailed = Signal(str, object)  # name, exception
    encoded = Signal(object, float)  # key, ms
    predicted = Signal(object)  # PredictResult
    predictFailed = Signal(int, object)  # gen, exception
    propagated = Signal(int, int, object)  # job id, frame, {obj_id: rle}
    progress = Signal(int, int, int)  # job id, frames done, frames expected
    jobFinished = Signal(int, str, object)  # job id, "done" | "cancelled" | "error", exception or None
    taskProgress = Signal(int, int, int)  # task id, done, total
    taskFinished = Signal(int, str, object)  # task id, "done" | "cancelled" | "error", result or exception
    busyChanged = Signal(str)  # "" when idle, else what it is doing

    def __init__(self, cache: FrameCache, parent=None):
        super().__init__(parent)
        self.cache = cache
        self._q: queue.Queue = queue.Queue()
        self._latest_gen = 0
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self._ahead: list[tuple] = []
        # owned by the worker thread only:
        self._engine_name = ""
        self._image = None
        self._video = None
        self._video_name = ""
        self._video_built = None
        self._weights = None
        self._video_path = None
        self._encoded_key = None
        self.video_prompts = 0  # clicks answered by the video model
        self._video_ahead = None  # (path, kind) to open in the video session while idle
        self._task_id = 0  # the task running now (run_task)
        self._last_task_id = 0  # the last one new_task_id gave out

    # ---------------- requests (GUI thread) ----------------
    def set_engine(self, name: str, weights=None) -> None:
        """weights: None = the installed checkpoint; a path; or "random" (tests)."""
        self._q.put(("engine", (name, weights)))

    def list_engines(self) -> None:
        """Which engines are installed and implemented: answered by `enginesListed`. Done
        here because checking a card can build its model on torch's meta device."""
        self._q.put(("list", None))

    def predict(self, gen: int, key: tuple, points=None, labels=None, box=None, mask_input=None,
                multimask=True, ctx: dict | None = None) -> None:
        with self._lock:
            self._latest_gen = max(self._latest_gen, gen)
        self._q.put(("predict", (gen, key, points, labels, box, mask_input, multimask, ctx or {})))

    def predict_video(self, gen: int, key: tuple, obj_id: int, points=None, labels=None, box=None,
                      fresh: bool = True, ctx: dict | None = None) -> None:
        """A click on a video frame given to the video model as a point prompt (as in the SAM 2
        demo), answered by `predicted` like an image prediction. fresh: forget what the session
        knew of this object first (a new set of clicks)."""
        with self._lock:
            self._latest_gen = max(self._latest_gen, gen)
        self._q.put(("vpredict", (gen, key, int(obj_id), points, labels, box, fresh, ctx or {})))

    def prepare_video(self, path: str | None, kind: str = "") -> None:
        """Build and open the video session for this video while idle (clicks will go to it)."""
        with self._lock:
            self._video_ahead = (path, kind) if path else None

    def encode(self, key: tuple) -> None:
        self._q.put(("encode", key))

    def encode_ahead(self, keys: list[tuple]) -> None:
        """Keys to encode while idle, most important first (replaces the previous list)."""
        with self._lock:
            self._ahead = list(keys)

    def propagate(self, job: PropagateJob) -> None:
        self._cancel.clear()
        self._q.put(("propagate", job))

    def new_task_id(self) -> int:
        """An id no other task has: every controller hears every taskFinished and keeps its own."""
        with self._lock:
            self._last_task_id += 1
            return self._last_task_id

    def run_task(self, task_id: int, fn) -> None:
        """fn(worker) runs on this thread, in turn with clicks and propagations; it may call
        image_session_for(), report() and cancelled(). Answered by taskFinished."""
        self._cancel.clear()
        self._q.put(("task", (task_id, fn)))

    def cancel(self) -> None:
        self._cancel.set()

    def stop(self) -> None:
        self._cancel.set()
        self._q.put(("stop", None))
        self.wait(30000)

    @property
    def latest_gen(self) -> int:
        with self._lock:
            return self._latest_gen

    # ---------------- thread ----------------
    def run(self) -> None:
        from annotator.gui.threads import lower_current_thread_priority

        lower_current_thread_priority()
        threading.current_thread().name = "engine-worker"  # names the thread in stack dumps
        while True:
            try:
                op, arg = self._q.get(timeout=0.05)
            except queue.Empty:
                self._encode_ahead()
                continue
            if op == "stop":
                break
            try:
                if op == "engine":
                    self._set_engine(arg)
                elif op == "list":
                    self._list_engines()
                elif op == "predict":
                    self._predict(*arg)
                elif op == "vpredict":
                    self._predict_video(*arg)
                elif op == "encode":
                    self._ensure_encoded(arg)
                elif op == "propagate":
                    self._propagate(arg)
                elif op == "task":
                    self._task_id = arg[0]
                    result = arg[1](self)
                    self.taskFinished.emit(arg[0], "cancelled" if self._cancel.is_set() else "done", result)
            except Exception as e:  # every failure goes back to the GUI as a signal
                log.info("worker %s failed: %r", op, e, exc_info=not _is_user_error(e))
                if op in ("predict", "vpredict"):
                    self.predictFailed.emit(arg[0], e)
                elif op == "engine":
                    self.engineFailed.emit(arg[0] if isinstance(arg, tuple) else arg, e)
                elif op == "propagate":
                    self.jobFinished.emit(arg.job_id, "error", e)
                elif op == "task":
                    self.taskFinished.emit(arg[0], "error", e)
            finally:
                self.busyChanged.emit("")
        self._image = self._video = None

    # ---------------- for tasks (worker thread) ----------------
    def image_session_for(self, name: str = ""):
        """(session, name): the engine in use when `name` is it or empty (its cached
        encodings are reused), else a fresh session of `name` for this task alone."""
        if not name or name == self._engine_name:
            session = self._ensure_image()
            self._encoded_key = None  # the task decides what the session holds
            return session, self._engine_name
        from annotator.engines import registry

        self.busyChanged.emit(f"Loading {name}…")
        return registry.create_image_session(name), name

    def report(self, done: int, total: int) -> None:
        self.taskProgress.emit(self._task_id, int(done), int(total))

    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def _list_engines(self) -> None:
        from annotator.engines import registry

        names: list[str] = []
        for kind in ("image", "video"):
            try:
                names += [n for n in registry.engine_names(kind) if n not in names]
            except Exception as e:  # a broken card must not hide the others
                log.warning("listing %s engines failed: %s", kind, e)
        if "classic" not in names:
            names.insert(0, "classic")
        self.enginesListed.emit(names)

    def _set_engine(self, spec) -> None:
        from annotator.engines import registry

        name, weights = spec if isinstance(spec, tuple) else (spec, None)
        if not name:  # the best installed engine
            name = registry.default_engine_name("image")
        self.busyChanged.emit(f"Loading {name}…")
        with long_lived_objects():
            image = registry.create_image_session(name, weights) if weights is not None else \
                registry.create_image_session(name)
        _leave_a_core_for_the_gui()
        self._image, self._engine_name, self._encoded_key = image, name, None
        self._weights = weights
        self._video = None  # created on first propagation
        try:
            video_names = registry.engine_names("video")
            if weights is not None and name not in video_names and registry.get_card(name).segments_kind("video"):
                video_names.append(name)  # explicit weights (a file, or "random" in tests)
        except Exception:  # registry problems must not block image work
            video_names = []
        self._video_name = name if name in video_names else registry.default_engine_name("video")
        self.engineReady.emit(name, _device_of(image), self._video_name)

    def _ensure_image(self):
        if self._image is None:
            from annotator.engines import registry

            self._set_engine(self._engine_name or registry.default_engine_name("image"))
        return self._image

    def _ensure_encoded(self, key: tuple) -> float:
        session = self._ensure_image()
        if self._encoded_key == key:
            return 0.0
        self.busyChanged.emit("Encoding…")
        t0 = time.perf_counter()
        rgb = self.cache.get(*key)
        session.set_image(rgb)
        self._encoded_key = key
        ms = (time.perf_counter() - t0) * 1000
        self.encoded.emit(key, ms)
        return ms

    def _predict(self, gen, key, points, labels, box, mask_input, multimask, ctx) -> None:
        if gen < self.latest_gen:  # superseded by a newer click that includes this one
            return
        from annotator.core import rle as rle_mod

        enc_ms = self._ensure_encoded(key)
        if gen < self.latest_gen:
            return
        self.busyChanged.emit("Predicting…")
        t0 = time.perf_counter()
        pred = self._image.predict(
            points=None if points is None else np.asarray(points, np.float32).reshape(-1, 2),
            labels=None if labels is None else np.asarray(labels, np.int32).reshape(-1),
            box=None if box is None else np.asarray(box, np.float32).reshape(4),
            mask_input=mask_input,
            multimask=multimask,
        )
        masks = np.asarray(pred.masks).astype(bool)
        if masks.ndim == 2:
            masks = masks[None]
        rles = [rle_mod.encode(m) for m in masks]
        ms = (time.perf_counter() - t0) * 1000
        self.predicted.emit(PredictResult(
            gen=gen, key=key, rles=rles, scores=np.asarray(pred.scores, np.float32).reshape(-1),
            best=int(pred.best), lowres_logits=None if pred.lowres_logits is None else np.asarray(pred.lowres_logits),
            ctx=ctx, encode_ms=enc_ms, predict_ms=ms,
        ))

    def _predict_video(self, gen, key, obj_id, points, labels, box, fresh, ctx) -> None:
        if gen < self.latest_gen:
            return
        from annotator.core import rle as rle_mod

        path, kind, frame = key
        t0 = time.perf_counter()
        vs = self._video_session(path, kind)
        open_ms = (time.perf_counter() - t0) * 1000
        if gen < self.latest_gen:
            return
        self.busyChanged.emit("Predicting (video model)…")
        t0 = time.perf_counter()
        if fresh:
            vs.remove_object(obj_id)
        out = vs.add_prompt(int(frame), obj_id,
                            points=None if points is None else np.asarray(points, np.float32).reshape(-1, 2),
                            labels=None if labels is None else np.asarray(labels, np.int32).reshape(-1),
                            box=None if box is None else np.asarray(box, np.float32).reshape(4))
        m = out.get(obj_id)
        if m is None:
            m = np.zeros((int(vs.source.height), int(vs.source.width)), bool)
        masks = np.asarray(m, bool)[None]
        ms = (time.perf_counter() - t0) * 1000
        self.video_prompts += 1
        self.predicted.emit(PredictResult(
            gen=gen, key=key, rles=[rle_mod.encode(masks[0])], scores=np.zeros(0, np.float32), best=0,
            lowres_logits=None, ctx=dict(ctx, via="video"), encode_ms=open_ms, predict_ms=ms,
        ))

    def _encode_ahead(self) -> None:
        with self._lock:
            video, self._video_ahead = self._video_ahead, None
        if video is not None and self._image is not None:
            try:
                self._video_session(*video)
            except Exception as e:  # the click that needs it will report the problem
                log.debug("preparing the video session for %s failed: %s", video[0], e)
            self.busyChanged.emit("")
            return
        with self._lock:
            if not self._ahead or not self._q.empty():
                return
            key = self._ahead.pop(0)
        if self._image is None or key == self._encoded_key:
            return
        if self._encoded_key is not None and _cache_capacity(self._image) < 2:
            return  # a one-image cache: encoding the next image would evict the one in use
        try:
            # Sessions cache encodings by content, so encoding the next image now makes the
            # switch instant; the current image is re-set from that cache on the next click.
            rgb = self.cache.get(*key)
            self._image.set_image(rgb)
            self._encoded_key = key
        except Exception as e:
            log.debug("encode-ahead of %s failed: %s", key, e)

    def _video_session(self, path: str, kind: str):
        from annotator.engines import registry

        if self._video is None or self._video_built != self._video_name:
            vname = self._video_name or registry.default_engine_name("video")
            with long_lived_objects():
                if self._weights is not None and vname == self._engine_name:
                    self._video = registry.create_video_session(vname, self._weights)
                else:
                    self._video = registry.create_video_session(vname)
            self._video_built = self._video_name
            self._video_path = None
        if self._video_path != path:
            self.busyChanged.emit("Opening video…")
            self._video.open(path)
            self._video_path = path
        return self._video

    def _propagate(self, job: PropagateJob) -> None:
        from annotator.core import rle as rle_mod

        vs = self._video_session(job.path, job.kind)
        self.busyChanged.emit("Propagating…")
        vs.reset()
        for obj_id, r in job.seeds.items():
            vs.add_prompt(job.start, int(obj_id), mask=rle_mod.decode(r))
        n = vs.num_frames
        if job.direction == "forward":
            total = (job.stop if job.stop is not None else n - 1) - job.start
        elif job.direction == "backward":
            total = job.start - (job.stop if job.stop is not None else 0)
        else:
            total = n - 1
        done = 0
        wanted = set(int(o) for o in job.seeds)
        for frame, masks in vs.propagate(job.start, job.direction, job.stop):
            if self._cancel.is_set():
                self.jobFinished.emit(job.job_id, "cancelled", None)
                return
            if frame == job.start:
                continue  # the seed frame already holds what the person made
            out = {int(o): rle_mod.encode(np.asarray(m, bool)) for o, m in masks.items() if int(o) in wanted}
            self.propagated.emit(job.job_id, int(frame), out)
            done += 1
            self.progress.emit(job.job_id, done, max(total, done))
        self.jobFinished.emit(job.job_id, "cancelled" if self._cancel.is_set() else "done", None)


@contextlib.contextmanager
def long_lived_objects():
    """Build a model without full garbage collections, then take its objects out of the collector's view.

    Loading a learned model creates hundreds of thousands of Python objects (torch's modules,
    the network) after the window froze its own at startup. A full (generation 2) collection
    then walks all of them: 40-90 ms measured on this machine, run by whichever thread
    allocates next and holding the GIL throughout, so the GUI thread stalls. The model lives
    until the engine is switched, so its objects are frozen like the window's. (The cost:
    reference cycles among frozen objects are never collected; a switched-out model's
    tensors are freed by reference counting.)"""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


def _leave_a_core_for_the_gui() -> None:
    """Torch would use every core; on a small machine that starves the GUI thread."""
    torch = sys.modules.get("torch")
    if torch is not None:
        n = os.cpu_count() or 2
        torch.set_num_threads(max(1, n - 1))


def _cache_capacity(session) -> int:
    """How many image encodings the session keeps (engines expose `cache_size`; default 1)."""
    try:
        if hasattr(session, "cache_size"):
            return int(session.cache_size or 1)
        # learned SAM sessions keep an LRU of encodings (annotator.engines.feature_cache)
        cache = getattr(session, "cache", None)
        return int(getattr(cache, "items", 1) or 1)
    except (TypeError, ValueError):
        return 1


def _device_of(session) -> str:
    dev = getattr(session, "device", None)
    return str(dev) if dev is not None else "cpu"


def _is_user_error(e: BaseException) -> bool:
    from annotator.errors import AnnotatorError

    return isinstance(e, AnnotatorError)
