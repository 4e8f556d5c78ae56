"""Segment everything: SAM's automatic mask generator (point grid per crop layer) and
TinySAM's hierarchical variant over any image session with `predict_points` /
`upsample_logits`, with pluggable suppression (nms.py). torch is imported lazily by the
session; this package itself needs numpy, OpenCV and pycocotools."""
