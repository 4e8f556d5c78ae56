"""What an import or export skipped, converted or decided, counted with the first few named,
so nothing vanishes silently (the CLI prints it; the GUI shows the same lines)."""
from __future__ import annotations

EXAMPLES = 3


class Summary:
    def __init__(self):
        self.counts: dict[str, int] = {}
        self.examples: dict[str, list[str]] = {}
        self.facts: list[str] = []   # plain statements ("wrote 73 frames as JPEG")

    def note(self, what: str, example: str | None = None, n: int = 1) -> None:
        """Count `n` of `what` (a phrase such as "labelme line shapes skipped (no area)")."""
        if n <= 0:
            return
        self.counts[what] = self.counts.get(what, 0) + n
        ex = self.examples.setdefault(what, [])
        if example is not None and len(ex) < EXAMPLES and example not in ex:
            ex.append(str(example))

    def fact(self, text: str) -> None:
        self.facts.append(text)

    def count(self, what: str) -> int:
        return self.counts.get(what, 0)

    def lines(self) -> list[str]:
        out = list(self.facts)
        for what, n in self.counts.items():
            ex = self.examples.get(what) or []
            more = f" (e.g. {', '.join(ex)}{', ...' if n > len(ex) else ''})" if ex else ""
            out.append(f"{n} {what}{more}")
        return out

    def __bool__(self) -> bool:
        return bool(self.counts or self.facts)
