"""A generated corpus of hostile and damaged inputs for every importer and the prompt validator.

Deterministic (one seed): each area gets the issue's named reproductions and their family
(non-finite and huge coordinates, vertex and outline bombs, declared size and frame-count
bombs, deep nesting, long integers, RLE counts over 2^32 or off the size, bad JSON...) plus
random mutations of a small valid document (a node replaced by a hostile value, a key dropped,
the text cut or a byte flipped).

A case is a dict: {"id", "area", "kind": "import"|"prompt", "fmt", "input", "opts"} for imports
(input is a file or folder written under the corpus folder), {"id", "area", "kind": "prompt",
"args"} for prompts.
"""
from __future__ import annotations

import base64
import copy
import io
import json
import random
import struct
import zlib
from pathlib import Path

import numpy as np

from annotator.core import rle

AREAS = ("coco", "ytvis", "sav", "davis", "labelme", "prompt")
W, H = 16, 12          # the media size the seed documents declare
HOSTILE_NUMBERS = [float("nan"), float("inf"), -float("inf"), 1e308, -1e308, 1e9, -1e9, 2 ** 31, 2 ** 32,
                   2 ** 63, 2 ** 64, 10 ** 30, -1, 0, 0.5, -0.5, 1e-320, 999999999999]
HOSTILE_OTHER = ["", "x", "../../../etc/passwd", "/abs/olute", "\x1b[31mred", "a" * 300, "a\x00b", "/dev/zero",
                 None, True, False,
                 [], {}, [[]], {"size": [], "counts": []}]


def _masks():
    a = np.zeros((H, W), bool)
    a[2:7, 3:9] = True
    b = np.zeros((H, W), bool)
    b[5:11, 8:15] = True
    b[7, 10] = False
    return a, b


def _uncompressed(m: np.ndarray) -> list[int]:
    flat = m.reshape(-1, order="F").astype(np.int8)
    runs, cur, n = [], 0, 0
    for v in flat:
        if v != cur:
            runs.append(n)
            cur, n = v, 0
        n += 1
    runs.append(n)
    return runs


# ----------------------------------------------------------------------------- seed documents
def seed(area: str) -> dict:
    a, b = _masks()
    ra, rb = rle.encode(a), rle.encode(b)
    poly = [3, 2, 9, 2, 9, 7, 3, 7]
    if area == "coco":
        return {"images": [{"id": 1, "file_name": "a.png", "width": W, "height": H},
                           {"id": 2, "file_name": "clip/00003.jpg", "width": W, "height": H, "media": "clip.mp4",
                            "media_kind": "video", "num_frames": 5, "fps": 24.0, "frame_index": 3}],
                "annotations": [
                    {"id": 1, "image_id": 1, "category_id": 1, "segmentation": [poly], "area": 30.0,
                     "bbox": [3, 2, 6, 5], "iscrowd": 0},
                    {"id": 2, "image_id": 1, "category_id": 2, "segmentation": ra, "iscrowd": 0, "score": 0.9},
                    {"id": 3, "image_id": 2, "category_id": 1, "iscrowd": 1, "track_id": 4,
                     "segmentation": {"size": [H, W], "counts": _uncompressed(b)}}],
                "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog", "supercategory": "animal",
                                                          "color": [1, 2, 3]}]}
    if area == "ytvis":
        return {"videos": [{"id": 1, "width": W, "height": H, "length": 3,
                            "file_names": ["clip/00000.jpg", "clip/00001.jpg", "clip/00002.jpg"],
                            "media": "clip.mp4", "media_kind": "video", "num_frames": 5, "fps": 10.0,
                            "frame_indices": [0, 1, 3]}],
                "annotations": [{"id": 1, "video_id": 1, "category_id": 1, "iscrowd": 0, "track_id": 2,
                                 "segmentations": [ra, None, [poly]], "bboxes": [None, None, None],
                                 "areas": [None, None, None]},
                                {"id": 2, "video_id": 1, "category_id": 1, "iscrowd": 0,
                                 "segmentations": [None, rb, {"size": [H, W], "counts": _uncompressed(a)}]}],
                "categories": [{"id": 1, "name": "person"}]}
    if area == "sav":
        z = rle.encode(np.zeros((H, W), bool))
        return {"video_id": "sav_000001", "video_duration": 0.5, "video_frame_count": 12, "video_height": H,
                "video_width": W, "video_resolution": H * W, "video_environment": "Indoor", "video_split": "train",
                "masklet": [[ra, rb], [ra, z], [z, rb]], "masklet_id": [0, 1],
                "masklet_size_rel": [0.1, 0.2], "masklet_size_abs": [30, 40], "masklet_size_bucket": ["small"] * 2,
                "masklet_visibility_changes": [0, 1], "masklet_first_appeared_frame": [0, 0],
                "masklet_frame_count": [3, 3], "masklet_edited_frame_count": [3, 3],
                "masklet_type": ["manual", "manual"], "masklet_stability_score": [None, None], "masklet_num": 2}
    if area == "labelme":
        buf = io.BytesIO()
        from PIL import Image

        Image.fromarray((b[5:11, 8:15] * 255).astype(np.uint8)).save(buf, format="PNG")
        return {"version": "5.5.0", "flags": {}, "imagePath": "a.png", "imageData": None,
                "imageHeight": H, "imageWidth": W,
                "shapes": [
                    {"label": "cat", "group_id": 1, "shape_type": "polygon",
                     "points": [[3, 2], [9, 2], [9, 7], [3, 7]], "flags": {}},
                    {"label": "cat", "group_id": 1, "shape_type": "rectangle", "points": [[1, 1], [4, 3]]},
                    {"label": "dog", "group_id": None, "shape_type": "circle", "points": [[8, 6], [11, 6]]},
                    {"label": "dog", "group_id": 2, "shape_type": "mask", "points": [[8, 5], [14, 10]],
                     "mask": base64.b64encode(buf.getvalue()).decode("ascii")},
                    {"label": "pt", "shape_type": "point", "points": [[2, 2]]}]}
    raise ValueError(area)


# ----------------------------------------------------------------------------- named families
def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


def _million_vertices(n=1_000_001):
    return [v for k in range(n) for v in ((k % W), (k * 7) % H)]


def _zigzag(n=200_000):
    # inside the frame but a long walk: corner to corner n times (an outline bomb)
    return [v for k in range(n) for v in ((0, 0) if k % 2 else (W, H))]


def named(area: str) -> list[tuple[str, object]]:
    """(name, document or raw text) pairs: the issue's reproductions and their family."""
    out: list[tuple[str, object]] = []
    d = seed(area)

    def mut(name, fn):
        doc = copy.deepcopy(d)
        fn(doc)
        out.append((name, doc))

    out.append(("valid", copy.deepcopy(d)))
    for depth in (1_000, 100_000, 1_000_000):
        out.append((f"nested_{depth}", _deep(depth)))
        out.append((f"nested_obj_{depth}", '{"a":' * depth + "1" + "}" * depth))
    out.append(("long_int", '{"images": [], "x": ' + "9" * 5000 + "}"))
    out.append(("not_json", "{'single': quotes}"))
    out.append(("empty", ""))
    out.append(("utf16", json.dumps(d).encode("utf-16")))
    out.append(("truncated", json.dumps(d)[: len(json.dumps(d)) // 2]))
    out.append(("top_list", [d]))
    out.append(("top_number", 1e308))
    if area == "coco":
        for v in (float("nan"), float("inf"), -float("inf"), 1e308, -1e308, 1e9, 2 ** 64, 10 ** 30):
            mut(f"poly_{v}", lambda doc, v=v: doc["annotations"][0]["segmentation"][0].__setitem__(2, v))
        mut("poly_million", lambda doc: doc["annotations"][0].__setitem__("segmentation", [_million_vertices()]))
        mut("poly_outline", lambda doc: doc["annotations"][0].__setitem__("segmentation", [_zigzag()]))
        mut("poly_many", lambda doc: doc["annotations"][0].__setitem__("segmentation", [[3, 2, 9, 2, 9, 7]] * 300_000))
        mut("bbox_poly4", lambda doc: doc["annotations"][0].__setitem__("segmentation", [[1e308, 1, 2, 3]]))
        mut("bbox_nan", lambda doc: doc["annotations"][0].__setitem__("bbox", [float("nan")] * 4))
        for wh in ((100_000, 100_000), (2 ** 31, 1), (65536, 65536), (10 ** 12, 10 ** 12), (1e308, 1)):
            def size(doc, wh=wh):
                for im in doc["images"]:
                    im["width"], im["height"] = wh
                doc["annotations"][1]["segmentation"]["size"] = [wh[1], wh[0]]
            mut(f"size_{wh[0]}x{wh[1]}", size)
        for n in (10 ** 9, 10 ** 12, 2 ** 63, 1e308):
            def frames(doc, n=n):
                doc["images"][1]["num_frames"] = n
                doc["images"][1]["frame_index"] = n - 1 if isinstance(n, int) else n
            mut(f"frames_{n}", frames)
        mut("fps_nan", lambda doc: doc["images"][1].__setitem__("fps", float("nan")))
        mut("track_huge", lambda doc: doc["annotations"][2].__setitem__("track_id", 10 ** 30))
        mut("track_float_huge", lambda doc: doc["annotations"][2].__setitem__("track_id", 1e300))
        mut("attributes_nested_900", lambda doc: doc["annotations"][0].__setitem__(
            "attributes", {"x": json.loads(_deep(900))}))
        mut("score_nan", lambda doc: doc["annotations"][1].__setitem__("score", float("nan")))
        for counts in ([2 ** 32 + 1], [H * W - 1, 2 ** 33], [2 ** 64, 0], [-1, H * W + 1], [H * W + 1],
                       [1.5] * 2, [H * W, 0, 0, 0], [float("inf")]):
            mut(f"rle_counts_{counts[:2]}", lambda doc, c=counts: doc["annotations"][2]["segmentation"]
                .__setitem__("counts", c))
        mut("rle_string_garbage", lambda doc: doc["annotations"][1]["segmentation"].__setitem__("counts", "\x7f~~"))
        mut("rle_string_long_run", lambda doc: doc["annotations"][1]["segmentation"].__setitem__("counts", "o" * 40))
        mut("rle_size_off", lambda doc: doc["annotations"][1]["segmentation"].__setitem__("size", [H + 1, W]))
    elif area == "ytvis":
        for v in (float("nan"), float("inf"), 1e308, -1e308, 2 ** 64):
            mut(f"poly_{v}", lambda doc, v=v: doc["annotations"][0]["segmentations"][2][0].__setitem__(1, v))
        mut("poly_million", lambda doc: doc["annotations"][0]["segmentations"].__setitem__(2, [_million_vertices()]))
        mut("poly_outline", lambda doc: doc["annotations"][0]["segmentations"].__setitem__(2, [_zigzag()]))
        for wh in ((100_000, 100_000), (2 ** 31, 1), (10 ** 12, 1)):
            def size(doc, wh=wh):
                doc["videos"][0]["width"], doc["videos"][0]["height"] = wh
            mut(f"size_{wh[0]}x{wh[1]}", size)
        for n in (10 ** 9, 10 ** 12, 1e308):
            mut(f"num_frames_{n}", lambda doc, n=n: doc["videos"][0].__setitem__("num_frames", n))
        mut("frame_indices_huge", lambda doc: doc["videos"][0].__setitem__("frame_indices", [0, 1, 10 ** 12]))
        mut("fps_inf", lambda doc: doc["videos"][0].__setitem__("fps", float("inf")))
        mut("track_huge", lambda doc: doc["annotations"][0].__setitem__("track_id", 2 ** 63))
        for counts in ([2 ** 32 + 1], [2 ** 64, 0], [H * W + 1]):
            mut(f"rle_counts_{counts[:1]}", lambda doc, c=counts: doc["annotations"][1]["segmentations"][2]
                .__setitem__("counts", c))
    elif area == "sav":
        for n in (10 ** 9, 10 ** 12, 2 ** 63, 1e308):
            mut(f"frame_count_{n}", lambda doc, n=n: doc.__setitem__("video_frame_count", n))
        for wh in ((100_000, 100_000), (2 ** 31, 1), (10 ** 12, 1)):
            def size(doc, wh=wh):
                doc["video_width"], doc["video_height"] = wh
                for fr in doc["masklet"]:
                    for r in fr:
                        r["size"] = [wh[1], wh[0]]
            mut(f"size_{wh[0]}x{wh[1]}", size)
        mut("stride_huge", lambda doc: doc.__setitem__("masklet_stride", 10 ** 12))
        mut("duration_tiny", lambda doc: doc.__setitem__("video_duration", 1e-320))
        mut("duration_nan", lambda doc: doc.__setitem__("video_duration", float("nan")))
        mut("masklet_id_huge", lambda doc: doc.__setitem__("masklet_id", [0, 10 ** 30]))
        mut("counts_list_huge", lambda doc: doc["masklet"][0][0].__setitem__("counts", [2 ** 40]))
        mut("video_id_dotdot", lambda doc: doc.__setitem__("video_id", ".."))
        mut("video_id_abs", lambda doc: doc.__setitem__("video_id", "/tmp/x"))
        mut("field_nested_900", lambda doc: doc.__setitem__("video_environment", json.loads(_deep(900))))
        mut("stab_nested_900", lambda doc: doc.__setitem__("masklet_stability_score", [json.loads(_deep(900)), None]))
        mut("stab_nan", lambda doc: doc.__setitem__("masklet_stability_score", [[float("nan")] * 2] * 3))
    elif area == "labelme":
        for v in (1e308, -1e308, 1e9, 2 ** 64):
            mut(f"point_{v}", lambda doc, v=v: doc["shapes"][0]["points"][1].__setitem__(0, v))
        mut("circle_1e9", lambda doc: doc["shapes"][2].__setitem__("points", [[8, 6], [1e9, 6]]))
        mut("circle_far_centre", lambda doc: doc["shapes"][2].__setitem__("points", [[1e300, 6], [1e300, 7]]))
        mut("rect_huge", lambda doc: doc["shapes"][1].__setitem__("points", [[-1e308, -1e308], [1e308, 1e308]]))
        mut("mask_box_huge", lambda doc: doc["shapes"][3].__setitem__("points", [[1e18, 5], [1e18, 10]]))
        mut("poly_million", lambda doc: doc["shapes"][0].__setitem__(
            "points", [[k % W, k % H] for k in range(1_000_001)]))
        for wh in ((100_000, 100_000), (2 ** 31, 1), (10 ** 12, 1), (1e308, 1)):
            def size(doc, wh=wh):
                doc["imageWidth"], doc["imageHeight"] = wh
            mut(f"size_{wh[0]}x{wh[1]}", size)
        mut("group_huge", lambda doc: doc["shapes"][0].__setitem__("group_id", 10 ** 30))
        mut("many_groups", lambda doc: doc.__setitem__("shapes", [
            {"label": f"l{k}", "shape_type": "rectangle", "points": [[0, 0], [2, 2]]} for k in range(3000)]))
        mut("ext_frames_huge", lambda doc: doc.__setitem__("annotator", {
            "media": "clip.mp4", "media_kind": "video", "num_frames": 10 ** 12, "frame_index": 3}))
        mut("mask_bomb", lambda doc: doc["shapes"][3].__setitem__("mask", _png_header_b64(50_000, 50_000)))
        mut("mask_not_png", lambda doc: doc["shapes"][3].__setitem__("mask", "bm90IGEgcG5n"))
    return out


# ----------------------------------------------------------------------------- PNG helpers
def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bytes(w: int, h: int, mode_bits=(8, 0), body: bytes | None = None) -> bytes:
    """A PNG with this header; `body` (raw scanlines) defaults to a few zero rows only."""
    depth, ctype = mode_bits
    raw = body if body is not None else b"\x00" * 64
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, 0))
            + _png_chunk(b"IDAT", zlib.compress(raw)) + _png_chunk(b"IEND", b""))


def _png_header_b64(w, h) -> str:
    return base64.b64encode(png_bytes(w, h)).decode("ascii")


def _save(path: Path, arr: np.ndarray, mode: str) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(arr) if mode == "I;16" else Image.fromarray(arr, mode=mode)
    img.save(path, format="PNG")


def _palette_png(path: Path, labels: np.ndarray) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(labels.astype(np.uint8), mode="L").convert("P")
    img.putpalette([v for i in range(256) for v in (i, 255 - i, (i * 7) % 256)])
    img.save(path, format="PNG")


def _label_png_cases(rng: random.Random, root: Path, n_random: int) -> list[tuple[str, Path]]:
    """DAVIS sequence folders (and SA-V PNG video folders): (name, folder) pairs."""
    out = []
    a, b = _masks()
    lab = a.astype(np.uint8) + 2 * (b & ~a)

    def seq(name):
        d = root / name
        d.mkdir(parents=True)
        out.append((name, d))
        return d

    d = seq("valid")
    for f in range(3):
        _palette_png(d / f"{f:05d}.png", lab)
    d = seq("frame_999999999999")
    _palette_png(d / "999999999999.png", lab)
    d = seq("frame_huge_name")
    _palette_png(d / ("9" * 200 + ".png"), lab)
    d = seq("unicode_digit_name")
    _palette_png(d / "\u00b2.png", lab)
    _palette_png(d / "\u0663.png", lab)
    d = seq("bomb_header")
    (d / "00000.png").write_bytes(png_bytes(50_000, 50_000))
    d = seq("bomb_2e31")
    (d / "00000.png").write_bytes(png_bytes(2 ** 31 - 1, 1))
    d = seq("truncated")
    _palette_png(d / "00000.png", lab)
    raw = (d / "00000.png").read_bytes()
    (d / "00000.png").write_bytes(raw[: len(raw) // 2])
    d = seq("not_png")
    (d / "00000.png").write_bytes(b"GIF89a not a png")
    d = seq("empty_file")
    (d / "00000.png").write_bytes(b"")
    d = seq("folder_named_png")
    (d / "00000.png").mkdir()
    d = seq("sizes_differ")
    _palette_png(d / "00000.png", lab)
    _palette_png(d / "00001.png", np.zeros((H + 1, W), np.uint8))
    d = seq("grey16_many_values")  # 20000 distinct object values in one frame
    _save(d / "00000.png", np.arange(200 * 100, dtype=np.uint16).reshape(100, 200), "I;16")
    d = seq("grey16_max_value")
    _save(d / "00000.png", np.full((H, W), 65535, np.uint16), "I;16")
    d = seq("rgb_off_palette")
    _save(d / "00000.png", np.full((H, W, 3), 7, np.uint8), "RGB")
    d = seq("grey_16bit")
    _save(d / "00000.png", (np.arange(H * W).reshape(H, W) * 300).astype(np.uint16), "I;16")
    d = seq("bad_crc")
    raw = bytearray(png_bytes(W, H, body=b"\x00" * ((W + 1) * H)))
    raw[29] ^= 0xFF
    (d / "00000.png").write_bytes(bytes(raw))
    for k in range(n_random):  # random bytes flipped in a valid PNG
        d = seq(f"random_{k}")
        _palette_png(d / "00000.png", lab)
        raw = bytearray((d / "00000.png").read_bytes())
        for _ in range(rng.randint(1, 4)):
            raw[rng.randrange(8, len(raw))] = rng.randrange(256)
        (d / "00000.png").write_bytes(bytes(raw))
    return out


def _sav_png_cases(rng: random.Random, root: Path, n_random: int) -> list[tuple[str, Path]]:
    """SA-V val/test layout: <video>/<obj:03d>/<frame:05d>.png."""
    out = []
    a, _ = _masks()
    m = (a * 255).astype(np.uint8)

    def video(name, obj="000", frames=("00000",), arr=m):
        d = root / name
        for f in frames:
            _save(d / obj / f"{f}.png", arr, "L")
        out.append((name, d))
        return d

    video("png_valid", frames=("00000", "00004"))
    video("png_frame_1e12", frames=("999999999999",))
    video("png_obj_huge", obj="9" * 40)
    video("png_unicode_obj", obj="\u0663\u0663")
    d = video("png_bomb")
    (d / "000" / "00004.png").write_bytes(png_bytes(50_000, 50_000))
    for k in range(n_random):
        d = video(f"png_random_{k}")
        p = d / "000" / "00000.png"
        raw = bytearray(p.read_bytes())
        for _ in range(rng.randint(1, 4)):
            raw[rng.randrange(8, len(raw))] = rng.randrange(256)
        p.write_bytes(bytes(raw))
    return out


# ----------------------------------------------------------------------------- random mutations
def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node[:8]):
            yield from _paths(v, prefix + (i,))


def _hostile_value(rng: random.Random):
    r = rng.random()
    if r < 0.55:
        return rng.choice(HOSTILE_NUMBERS)
    if r < 0.85:
        return copy.deepcopy(rng.choice(HOSTILE_OTHER))
    if r < 0.95:
        return [rng.choice(HOSTILE_NUMBERS) for _ in range(rng.randint(0, 9))]
    v = 0
    for _ in range(rng.randint(2, 60)):
        v = [v]
    return v


def mutate(rng: random.Random, doc) -> object:
    """One random damage to a document: replaced/dropped/duplicated nodes, or raw text damage."""
    doc = copy.deepcopy(doc)
    for _ in range(rng.randint(1, 3)):
        paths = list(_paths(doc))[1:]
        if not paths:  # an earlier step left a scalar or an empty container
            break
        path = rng.choice(paths)
        parent = doc
        for k in path[:-1]:
            parent = parent[k]
        key = path[-1]
        op = rng.random()
        if op < 0.7:
            parent[key] = _hostile_value(rng)
        elif op < 0.85:
            if isinstance(parent, dict):
                del parent[key]
            else:
                parent.pop(key)
        elif isinstance(parent, list):
            parent.insert(key, copy.deepcopy(parent[key]))
        else:
            parent[key] = [parent[key]]
    if rng.random() < 0.15:  # text damage
        text = json.dumps(doc).encode()
        if rng.random() < 0.5:
            return text[: rng.randrange(len(text))]
        b = bytearray(text)
        b[rng.randrange(len(b))] = rng.randrange(256)
        return bytes(b)
    return doc


SYSTEMATIC_VALUES = [float("nan"), -1, 1e308, 2 ** 64, "x", None, [], {}]


def systematic(area: str) -> list[tuple[str, object]]:
    """Every node of the seed document (lists: their first 3 entries) replaced by each of a few
    hostile values in turn: finds a field that no check covers."""
    return _systematic_of(seed(area))


def _systematic_of(d) -> list[tuple[str, object]]:
    out = []
    for path in list(_paths(d))[1:]:
        if any(isinstance(k, int) and k >= 3 for k in path):
            continue
        for j, v in enumerate(SYSTEMATIC_VALUES):
            doc = copy.deepcopy(d)
            parent = doc
            for k in path[:-1]:
                parent = parent[k]
            parent[path[-1]] = copy.deepcopy(v)
            out.append(("sys_" + ".".join(map(str, path)) + f"={j}", doc))
    return out


def _write(path: Path, doc) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(doc, (bytes, bytearray)):
        path.write_bytes(bytes(doc))
    elif isinstance(doc, str):
        path.write_text(doc)
    else:
        path.write_text(json.dumps(doc, allow_nan=True))


# ----------------------------------------------------------------------------- prompts
PROMPTS_SEED = {"prompts": [{"frame": 0, "obj_id": 1, "points": [[3, 4], [10.5, 2]], "labels": [1, 0]},
                            {"frame": 2, "obj_id": 2, "box": [1, 1, 8, 8]}]}


def prompt_file_cases(rng: random.Random, root: Path, n: int, systematic_every: int) -> list[dict]:
    """Prompts files as `propagate --prompts` reads them (commands/propagate.read_prompts), then
    each prompt through check_prompt."""
    d = PROMPTS_SEED
    docs = [("file_valid", d), ("file_nested", _deep(100_000)), ("file_empty", ""), ("file_list", [])]
    for key, v in (("frame", float("inf")), ("frame", 10 ** 400), ("obj_id", float("nan")), ("obj_id", 0),
                   ("points", [[float("inf"), 1]]), ("points", [[10 ** 400, 1]]), ("labels", [float("inf"), 1]),
                   ("box", [0, 0, 1e308, 3]), ("box", [float("nan")] * 4), ("points", [[1, 2, 3]])):
        doc = copy.deepcopy(d)
        doc["prompts"][0 if key != "box" else 1][key] = v
        docs.append((f"file_{key}_{v if not isinstance(v, int) or v < 10 ** 20 else 'huge'}"[:60], doc))
    docs += [(f"file_random_{k}", mutate(rng, d)) for k in range(n)]
    if systematic_every:
        docs += [("file_" + name, doc) for name, doc in _systematic_of(d)[::systematic_every]]
    out = []
    for name, doc in docs:
        path = root / "prompts" / name / "prompts.json"
        _write(path, doc)
        out.append({"id": f"prompt/{name}", "area": "prompt", "kind": "prompts_file", "input": str(path),
                    "width": W, "height": H, "frames": 5})
    return out


def prompt_cases(rng: random.Random, n: int) -> list[dict]:
    out = []
    named_args = [
        {"points": [[float("nan"), 1]]}, {"points": [[float("inf"), 1]]}, {"points": [[-1, 1]]},
        {"points": [[W, 1]]}, {"points": [[1e308, 1e308]]}, {"points": [[1, 1]], "labels": [2]},
        {"points": [[1, 1]], "labels": [float("nan")]}, {"points": [[1, 1, 1]]}, {"points": "xy"},
        {"box": [0, 0, W, H]}, {"box": [5, 5, 5, 5]}, {"box": [-1, 0, 3, 3]}, {"box": [0, 0, 1e308, 3]},
        {"box": [float("nan")] * 4}, {"box": [1, 2, 3]}, {}, {"points": []}, {"points": [[True, 1]]},
        {"points": [["1", "2"]]}, {"points": [[10 ** 400, 1]]}, {"points": [[1, 1]], "labels": [1, 0]},
    ]
    for k, a in enumerate(named_args):
        out.append({"id": f"prompt/named_{k}", "area": "prompt", "kind": "prompt", "args": a,
                    "width": W, "height": H})

    def val():
        r = rng.random()
        if r < 0.5:
            return rng.uniform(-2 * W, 2 * W)
        if r < 0.8:
            return rng.choice(HOSTILE_NUMBERS)
        return copy.deepcopy(rng.choice(HOSTILE_OTHER))

    for k in range(n):
        a = {}
        if rng.random() < 0.7:
            a["points"] = [[val(), val()] if rng.random() < 0.9 else [val()] * rng.randint(0, 3)
                           for _ in range(rng.randint(0, 4))]
            if rng.random() < 0.5:
                a["labels"] = [rng.choice([0, 1, 1, 2, -1, 0.5, True, None, "1"])
                               for _ in range(len(a["points"]) + rng.choice([0, 0, 0, 1, -1]))]
        if rng.random() < 0.5:
            a["box"] = [val() for _ in range(rng.choice([4, 4, 4, 3, 5]))]
        out.append({"id": f"prompt/random_{k}", "area": "prompt", "kind": "prompt", "args": a,
                    "width": rng.randint(1, 64), "height": rng.randint(1, 64)})
    return out


# ----------------------------------------------------------------------------- real seeds
def shared_data() -> Path | None:
    import os

    root = Path(os.environ.get("ANNOTATOR_SHARED", Path(__file__).resolve().parents[3] / "shared")) / "data"
    return root if root.is_dir() else None


def _real_cases(rng: random.Random, root: Path, n: int) -> list[dict]:
    """Mutations of the real SA-V file and byte-flipped real DAVIS 2016 masks (with their real
    frames as media), when ../shared/data is there."""
    data = shared_data()
    out: list[dict] = []
    if data is None:
        return out
    sav = data / "sav" / "sav_000001_manual.json"
    if sav.is_file():
        doc = json.loads(sav.read_text())
        for k in range(n + 1):
            path = root / "sav_real" / f"real_{k}" / "sav_000001_manual.json"
            _write(path, doc if k == 0 else mutate(rng, doc))
            out.append({"id": f"sav/real_{k}", "area": "sav", "kind": "import", "fmt": "sav",
                        "input": str(path), "opts": {}})
    seqs = sorted((data / "davis2016" / "Annotations" / "480p").glob("*"))
    if seqs:
        seq = seqs[0]
        media = data / "davis2016" / "JPEGImages" / "480p" / seq.name
        pngs = sorted(seq.glob("*.png"))[:2]
        for k in range(max(2, n // 2) + 1):
            d = root / "davis_real" / f"real_{k}" / seq.name
            d.mkdir(parents=True)
            for p in pngs:
                raw = bytearray(p.read_bytes())
                if k:
                    for _ in range(rng.randint(1, 3)):
                        raw[rng.randrange(8, len(raw))] = rng.randrange(256)
                (d / p.name).write_bytes(bytes(raw))
            out.append({"id": f"davis/real_{k}", "area": "davis", "kind": "import", "fmt": "davis",
                        "input": str(d), "opts": {"media": str(media)} if media.is_dir() and k % 2 == 0 else {}})
    return out


# ----------------------------------------------------------------------------- the corpus
FILE_NAMES = {"coco": "c.json", "ytvis": "y.json", "sav": "sav_000001_manual.json", "labelme": "a.json"}


def build(root: Path, n_random: int = 60, seed_value: int = 20261204, areas=AREAS,
          systematic_every: int = 0) -> list[dict]:
    """Write the corpus under `root`; the list of cases, in a fixed order. `systematic_every`
    = k adds every k-th of the every-node substitutions (systematic(); ~2000 with k = 1)."""
    rng = random.Random(seed_value)
    root = Path(root)
    cases: list[dict] = []
    for area in areas:
        if area == "prompt":
            cases += prompt_cases(rng, 10 * n_random)
            cases += prompt_file_cases(rng, root, n_random, systematic_every)
            continue
        if area == "davis":
            for name, folder in _label_png_cases(rng, root / "davis", n_random):
                cases.append({"id": f"davis/{name}", "area": "davis", "kind": "import", "fmt": "davis",
                              "input": str(folder), "opts": {}})
            continue
        docs = named(area) + [(f"random_{k}", mutate(rng, seed(area))) for k in range(n_random)]
        if systematic_every:
            docs += systematic(area)[::systematic_every]
        media = root / "media"
        if not (media / "a.png").exists():
            _save(media / "a.png", np.zeros((H, W), np.uint8), "L")
        for k, (name, doc) in enumerate(docs):
            folder = root / area / name
            path = folder / FILE_NAMES[area]
            _write(path, doc)
            opts = {"require_media": False} if area in ("coco", "ytvis", "labelme") else {}
            if k % 2 and name.startswith("random") and area in ("coco", "labelme"):
                # every other random case with its image on disk: the size check against the file
                opts = {"image_root": str(media)} if area == "coco" else {}
                (folder / "a.png").write_bytes((media / "a.png").read_bytes())
            cases.append({"id": f"{area}/{name}", "area": area, "kind": "import", "fmt": area,
                          "input": str(path), "opts": opts})
        if area == "sav":
            for name, folder in _sav_png_cases(rng, root / "sav_png", max(4, n_random // 6)):
                cases.append({"id": f"sav/{name}", "area": "sav", "kind": "import", "fmt": "sav",
                              "input": str(folder), "opts": {}})
    if "sav" in areas and "davis" in areas:
        cases += _real_cases(rng, root, max(2, n_random // 4))
    return cases
