"""MagicAnimate's model, patching and sampling logic for ComfyUI, usable without any node class.

Imports inside this package are relative so it works both as ``magic_core`` (training, benchmarks, tests)
and as a subpackage of the custom node pack.
"""
