"""The ``magicanimate`` model folder (``ComfyUI/models/magicanimate/``), registered with ``folder_paths``."""
from __future__ import annotations

import os

import folder_paths

from .model_kinds import order_by_kind

MODEL_FOLDER = "magicanimate"
MODEL_EXTENSIONS = {".safetensors", ".ckpt", ".pt", ".pth", ".bin"}


def register_model_folder() -> None:
    """Add ``models/magicanimate`` (first) and our extensions, keeping paths from ``extra_model_paths.yaml``.

    ComfyUI reads ``extra_model_paths.yaml`` before custom nodes load; a ``magicanimate:`` entry there
    creates the folder key with no extensions, so extensions are merged rather than replaced.
    """
    folder_paths.add_model_folder_path(MODEL_FOLDER, os.path.join(folder_paths.models_dir, MODEL_FOLDER),
                                       is_default=True)
    paths, extensions = folder_paths.folder_names_and_paths[MODEL_FOLDER]
    folder_paths.folder_names_and_paths[MODEL_FOLDER] = (paths, set(extensions) | MODEL_EXTENSIONS)
    register_densepose_folder()


DENSEPOSE_FOLDER = "magicanimate_densepose"  # models/magicanimate/densepose/: the DensePose TorchScript models
DENSEPOSE_EXTENSIONS = {".torchscript"}


def register_densepose_folder() -> None:
    """Add ``models/magicanimate/densepose`` for the DensePose estimator's TorchScript files (an
    ``extra_model_paths.yaml`` entry ``magicanimate_densepose: <path>`` adds more places, e.g. comfyui_controlnet_aux's
    ``ckpts/LayerNorm/DensePose-TorchScript-with-hint-image``)."""
    folder_paths.add_model_folder_path(DENSEPOSE_FOLDER,
                                       os.path.join(folder_paths.models_dir, MODEL_FOLDER, "densepose"),
                                       is_default=True)
    paths, extensions = folder_paths.folder_names_and_paths[DENSEPOSE_FOLDER]
    folder_paths.folder_names_and_paths[DENSEPOSE_FOLDER] = (paths, set(extensions) | DENSEPOSE_EXTENSIONS)


CONTROLNET_FOLDER = "controlnet"  # core's folder: DensePose ControlNets are also looked for there


def model_file_path(name: str, folders: tuple[str, ...] = (MODEL_FOLDER,)) -> str:
    """Full path of a file listed in one of ``folders`` (first match), with a clear error if it is gone."""
    for folder in folders:
        path = folder_paths.get_full_path(folder, name)
        if path is not None:
            return path
    searched = ", ".join(p for folder in folders for p in folder_paths.get_folder_paths(folder))
    raise FileNotFoundError(f"The model file '{name}' was not found in the {' or '.join(folders)} model folder "
                            f"({searched}); put it there or pick another file.")


def model_file_names(folders: tuple[str, ...] = (MODEL_FOLDER,), path_contains: str = "") -> list[str]:
    """The files of ``folders`` as the loaders list them (first folder first, no duplicates); with
    ``path_contains``, only files of the first folder whose path holds that text (case-insensitive)."""
    names: list[str] = []
    for i, folder in enumerate(folders):
        for name in folder_paths.get_filename_list(folder):
            if name in names or (i == 0 and path_contains and path_contains not in name.lower()):
                continue
            names.append(name)
    return names


def model_file_names_of_kind(kind: str) -> list[str]:
    """Every file of ``models/magicanimate``, those that look like ``kind`` (see ``model_kinds``) first."""
    return order_by_kind(model_file_names(), kind, lambda name: folder_paths.get_full_path(MODEL_FOLDER, name))
