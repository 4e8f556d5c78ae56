"""Batch work over a project's items, headless (no Qt): one task per media item.

tasks.py: what a worker runs (plain values in, RLE out); executors.py: a local process pool
or Ray, one interface; jobs.py: per command, the payload an item gives and how its result is
written; driver.py: the only writer to the project, item by item, skipping done items.
"""
