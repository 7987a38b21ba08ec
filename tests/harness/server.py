"""A real ComfyUI server (``main.py`` subprocess) for end-to-end tests, with small HTTP helpers."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any


class PromptRejected(Exception):
    """``/prompt`` refused the workflow (validation); ``body`` holds ComfyUI's ``error``/``node_errors``."""

    def __init__(self, body: dict[str, Any]):
        super().__init__(json.dumps(body)[:2000])
        self.body = body


def rss_kib(pid: int) -> int:
    """Resident memory of a process (``VmRSS``), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ComfyServer:
    """``main.py --base-directory <base>`` on a free loopback port; the log goes to ``<base>/server.log``."""

    def __init__(self, comfy_path: Path, python: str, base_dir: Path, cpu: bool, extra_args: list[str] = ()):
        self.comfy_path, self.python, self.base_dir, self.cpu = comfy_path, python, base_dir, cpu
        self.extra_args = list(extra_args)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = base_dir / "server.log"
        self.client_id = uuid.uuid4().hex
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 180.0) -> None:
        cmd = [self.python, str(self.comfy_path / "main.py"), "--listen", "127.0.0.1", "--port", str(self.port),
               "--disable-auto-launch", "--base-directory", str(self.base_dir),
               "--database-url", "sqlite:///:memory:"]
        if self.cpu:
            cmd.append("--cpu")
        cmd += self.extra_args
        # A fixed mmap threshold: glibc otherwise raises it after each large free, so freed tensors stay in the
        # heap and the server's RSS (which the memory tests read) keeps the high-water mark of past prompts.
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", PYTHONUNBUFFERED="1", MALLOC_MMAP_THRESHOLD_="131072")
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env,
                                     cwd=self.base_dir, start_new_session=True)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ComfyUI server exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                self.get("/system_stats")
                return
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.5)
        raise TimeoutError(f"ComfyUI server did not answer within {timeout}s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(15)
        if getattr(self, "_log", None):
            self._log.close()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, chars: int = 6000) -> str:
        return self.log_text()[-chars:]

    # --- HTTP -------------------------------------------------------------------------------------
    def _request(self, path: str, body: Any = None, timeout: float = 60.0) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data,
                                     headers={"Content-Type": "application/json"} if data else {})
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def get(self, path: str) -> Any:
        return self._request(path)

    def object_info(self) -> dict[str, Any]:
        return self.get("/object_info")

    def queue(self, workflow: dict[str, Any]) -> str:
        """Post an API-format workflow; returns its prompt id or raises :class:`PromptRejected`."""
        try:
            answer = self._request("/prompt", {"prompt": workflow, "client_id": self.client_id})
        except urllib.error.HTTPError as err:
            raise PromptRejected(json.loads(err.read() or b"{}")) from None
        return answer["prompt_id"]

    def wait(self, prompt_id: str, timeout: float = 300.0) -> dict[str, Any]:
        """Poll ``/history`` until the prompt finished (success or error); returns its history entry."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            entry = self.get(f"/history/{prompt_id}").get(prompt_id)
            if entry and entry.get("status", {}).get("completed") is not None:
                if entry["status"].get("status_str") in ("success", "error"):
                    return entry
            if not self.alive():
                raise RuntimeError(f"ComfyUI server died while running {prompt_id}:\n{self.log_tail()}")
            time.sleep(0.2)
        raise TimeoutError(f"prompt {prompt_id} did not finish within {timeout}s:\n{self.log_tail()}")

    def run(self, workflow: dict[str, Any], timeout: float = 300.0) -> dict[str, Any]:
        """Queue and wait; raise with ComfyUI's error message when execution failed."""
        entry = self.wait(self.queue(workflow), timeout)
        if entry["status"]["status_str"] != "success":
            raise ExecutionFailed(entry)
        return entry

    def interrupt(self) -> None:
        self._request("/interrupt", {})

    def free_memory(self, settle: float = 2.0) -> None:
        """What ComfyUI's "Free model and node cache" button does (``POST /free``): unload every model and
        clear the node output caches; the prompt worker acts on it when it next wakes."""
        self._request("/free", {"unload_models": True, "free_memory": True})
        time.sleep(settle)

    def output_files(self, entry: dict[str, Any]) -> list[Path]:
        """Files the prompt's output nodes saved (images, animated images, videos), as local paths."""
        files = []
        for node_out in entry.get("outputs", {}).values():
            for kind in ("images", "animated", "videos", "gifs"):
                for item in node_out.get(kind, []) or []:
                    if isinstance(item, dict) and "filename" in item:
                        folder = self.base_dir / item.get("type", "output") / item.get("subfolder", "")
                        files.append(folder / item["filename"])
        return files


class ExecutionFailed(Exception):
    """A queued prompt ended with ``status_str == "error"``; ``message`` is ComfyUI's exception text."""

    def __init__(self, entry: dict[str, Any]):
        self.entry = entry
        self.message = execution_error(entry) or json.dumps(entry.get("status"))[:2000]
        super().__init__(self.message)


def execution_error(entry: dict[str, Any]) -> str | None:
    """The ``exception_message`` of an ``execution_error`` status message, if any."""
    for kind, data in entry.get("status", {}).get("messages", []):
        if kind == "execution_error":
            return f"{data.get('node_type')}: {data.get('exception_message')}"
    return None
