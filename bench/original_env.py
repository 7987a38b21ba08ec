"""The original MagicAnimate's Python environment, built once in a cache outside the clone.

``~/.cache/magicanimate-original/<key>/venv`` (or ``$MAGICANIMATE_ORIGINAL_CACHE``): the versions its code needs
on CPU with torch 2.x, and the host's own torch (not reinstalled: a ``.pth`` file puts the host's site-packages
after the venv's own, so the venv's diffusers/transformers/numpy win and torch is the host's).
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

ORIGINAL_REQUIREMENTS = ("diffusers==0.21.4", "transformers==4.36.2", "huggingface_hub<0.26", "numpy<2", "einops",
                         "omegaconf", "safetensors", "imageio")
CACHE = Path(os.environ.get("MAGICANIMATE_ORIGINAL_CACHE", Path.home() / ".cache" / "magicanimate-original"))


def torch_site_packages() -> Path:
    """The site-packages folder the running interpreter imports torch from."""
    import torch

    return Path(torch.__file__).resolve().parent.parent


def ensure_original_env() -> Path:
    """The original environment's python (built on first use; a second call takes no time)."""
    site = torch_site_packages()
    key = hashlib.sha256("\n".join([*ORIGINAL_REQUIREMENTS, str(site), sys.version]).encode()).hexdigest()[:16]
    venv = CACHE / key / "venv"
    python = venv / "bin" / "python"
    done = venv / ".complete"
    if done.exists():
        return python
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", *ORIGINAL_REQUIREMENTS], check=True)
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    Path(purelib, "zz_host_torch.pth").write_text(f"{site}\n", encoding="utf-8")
    subprocess.run([str(python), "-c", "import torch, diffusers, numpy; assert diffusers.__version__ == '0.21.4'"],
                   check=True)
    done.write_text("ok\n", encoding="utf-8")
    return python
