"""Two-stage image-video joint training on the pack's own inference code; the CLI is ``python -m
magic_core.training`` (``__main__``)."""
