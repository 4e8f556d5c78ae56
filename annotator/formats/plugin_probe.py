"""Child process that tries third-party plugins before the app imports them (see
registry.py): a plugin that loops forever or calls os._exit while loading is found here,
where it can only take this child down.

Protocol: a JSON list of specs on stdin ({"name", "kind": "file"|"ep", "file" | "value"/"group"});
for each, a line "START <i>", then "OK <i> <json provided>" or "FAIL <i> <json message>".
"""
from __future__ import annotations

import json
import sys
from pathlib import Path


def _load(spec: dict):
    from annotator.formats import registry

    if spec["kind"] == "file":
        return registry._import_file(Path(spec["file"]), spec["name"])
    from importlib.metadata import EntryPoint

    return EntryPoint(spec["name"], spec["value"], spec["group"]).load()


def main() -> None:
    from annotator.formats import registry

    specs = json.loads(sys.stdin.read())
    out = sys.stdout
    for i, spec in enumerate(specs):
        print(f"START {i}", file=out, flush=True)
        reg = registry._Registry()
        reg.builtins_loaded = reg.loaded = True  # only the plugin itself is tried here
        try:
            provided = reg._register_module(_load(spec), spec["name"])
            print(f"OK {i} {json.dumps(provided)}", file=out, flush=True)
        except BaseException as e:  # noqa: BLE001 - SystemExit and friends are the plugin's fault
            msg = f"{type(e).__name__}: {e}".splitlines()[0] if str(e) else type(e).__name__
            print(f"FAIL {i} {json.dumps(msg)}", file=out, flush=True)


if __name__ == "__main__":
    main()
