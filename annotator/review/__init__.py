"""Review queue: per-frame drift signals and outlier detectors over them (no Qt, no torch)."""
