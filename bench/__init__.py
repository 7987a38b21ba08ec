"""Benchmarks of the MagicAnimate pack: floor, full pipeline and naive composition, side by side."""
