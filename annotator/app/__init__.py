"""The application layer: the use-cases the GUI and the CLI share (no Qt; torch only lazily,
through engines). The front ends parse arguments or wire widgets, then call in here."""
