"""The DensePose TorchScript model (``densepose_r50_fpn_dl.torchscript`` / ``_r101_``), loaded safely.

A TorchScript archive is a zip holding ``<name>/code/`` (the TorchScript program) and ``<name>/data.pkl`` /
``constants.pkl`` (read by TorchScript's own restricted unpickler, which builds tensors only). Anything else (a
plain pickle, a ``torch.save`` checkpoint, a truncated download) is refused before ``torch.jit.load`` sees it.

Devices: the file's bytes are read once (CPU RAM); for a run the model is built on ComfyUI's torch device with
``map_location`` (traced graphs keep their device in constants, so moving a built module is not enough), after
``model_management.free_memory`` made room for it, and dropped again after the run (the offload).
"""
from __future__ import annotations

import io
import os
import zipfile
from dataclasses import dataclass, field

import torch

from ..checkpoints import FileKind

KIND = FileKind("DensePose estimator", "densepose_r50_fpn_dl.torchscript or densepose_r101_fpn_dl.torchscript "
                "in models/magicanimate/densepose/")
# A model in memory needs about its weights again for activations at 512 px detection resolution.
MEMORY_FACTOR = 6


@dataclass
class DensePoseModel:
    """A checked DensePose TorchScript file, kept as bytes; `module` builds it on a device for one run."""
    name: str
    data: bytes = field(repr=False)
    _modules: dict[str, torch.jit.ScriptModule] = field(default_factory=dict, repr=False)

    def module(self, device: torch.device) -> torch.jit.ScriptModule:
        """The model on ``device`` (built once per device until `release`)."""
        key = str(device)
        if key not in self._modules:
            import torchvision  # noqa: F401 - registers torchvision::nms, which the real graphs call

            self._modules[key] = torch.jit.load(io.BytesIO(self.data), map_location=device).eval()
        return self._modules[key]

    def memory_required(self) -> int:
        """Bytes to free on the device before building the model there."""
        return len(self.data) * MEMORY_FACTOR

    def release(self, keep: torch.device | None = None) -> None:
        """Drop the built modules (all but the one on ``keep``)."""
        for key in [k for k in self._modules if keep is None or k != str(keep)]:
            del self._modules[key]


def check_torchscript_archive(path: str) -> None:
    """Raise a clear error unless ``path`` is a TorchScript zip archive (never unpickles anything)."""
    name = os.path.basename(path)
    if not os.path.isfile(path):
        raise KIND.error(f"the file '{path}' does not exist; put {KIND.expected}.")
    size = os.path.getsize(path)
    if size == 0:
        raise KIND.error(f"the file '{name}' is empty (0 bytes): the download or copy did not finish; download it "
                         f"again ({KIND.expected}).")
    if not zipfile.is_zipfile(path):
        raise KIND.error(f"the file '{name}' ({size} bytes) is not a TorchScript archive (not a zip file: a pickle, "
                         f"a truncated download or another format); it was refused without running it. Download "
                         f"{KIND.expected} again (Hugging Face LayerNorm/DensePose-TorchScript-with-hint-image).")
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise KIND.error(f"the file '{name}' ({size} bytes) is a damaged zip archive ({exc}); download it "
                         f"again ({KIND.expected}).") from exc
    roots = {n.split("/", 1)[0] for n in names if "/" in n}
    scripted = any(f"{root}/data.pkl" in names and any(n.startswith(f"{root}/code/") for n in names)
                   for root in roots)
    if not scripted:
        raise KIND.error(f"the file '{name}' is a zip archive but not a TorchScript model (no code/ and data.pkl: "
                         f"e.g. a torch.save checkpoint); it was refused without loading it. Pick "
                         f"{KIND.expected}.")


def load_densepose_model(path: str) -> DensePoseModel:
    """Check ``path`` and read it; the model is built (and checked to load) on the CPU once here."""
    check_torchscript_archive(path)
    with open(path, "rb") as handle:
        data = handle.read()
    model = DensePoseModel(os.path.basename(path), data)
    try:
        model.module(torch.device("cpu"))
    except Exception as exc:  # noqa: BLE001 - any TorchScript reader error becomes one clear message
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise KIND.error(f"the file '{model.name}' could not be loaded as TorchScript ({type(exc).__name__}: "
                         f"{first[:200]}); download it again ({KIND.expected}).") from exc
    model.release()
    return model
