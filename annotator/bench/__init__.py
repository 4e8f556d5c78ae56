"""Benchmarks behind `annotator bench`: one module per benchmark, each with register(subparsers)."""
