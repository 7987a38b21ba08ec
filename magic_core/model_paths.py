"""The ``magicanimate`` model folder (``ComfyUI/models/magicanimate/``), registered with ``folder_paths``."""
from __future__ import annotations

import os

import folder_paths

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


def model_file_path(name: str) -> str:
    """Full path of a file listed in the ``magicanimate`` folder, with a clear error if it is gone."""
    path = folder_paths.get_full_path(MODEL_FOLDER, name)
    if path is None:
        searched = ", ".join(folder_paths.get_folder_paths(MODEL_FOLDER))
        raise FileNotFoundError(f"MagicAnimate model file '{name}' was not found in the magicanimate model "
                                f"folder ({searched}); put it there or pick another file.")
    return path
