"""Driving the Go load generator: its config for one target and one load shape, and the JSON
line protocol on its stdin/stdout (see go/loadgen/main.go)."""

from __future__ import annotations

import json
import queue
import subprocess
import threading
from pathlib import Path
from typing import Any

import seed

ANCHOR_SUBJECT_PREFIX = "bench.anchor."


def loadgen_config(*, target: str, url: str, shape: seed.Shape) -> dict[str, Any]:
    m = len(shape.channels)
    if target == "gochat":
        clients = [{"token": token, "channel": j % m} for j, token in enumerate(shape.tokens)]
    else:
        clients = [{"channel": j % m} for j in range(len(shape.tokens))]
    channels = [
        {
            "name": ch.anchor_name,
            "subject": ch.gochat_subject
            if target == "gochat"
            else ANCHOR_SUBJECT_PREFIX + ch.anchor_name,
            "template": ch.gochat_envelope if target == "gochat" else ch.anchor_payload,
            "api_path": f"/channels/{ch.channel_id}/messages",
            "api_token": ch.owner_token,
        }
        for ch in shape.channels
    ]
    return {
        "target": target,
        "url": url,
        "clients": clients,
        "channels": channels,
        "connect_concurrency": 64,
        "connect_timeout_s": 600,
        "drain_s": 60,
    }


class LoadGenError(RuntimeError):
    """The load generator exited, answered with an error, or did not answer in time."""


class LoadGen:
    """One load generator process holding one set of connections."""

    def __init__(self, binary: Path, config: dict[str, Any], *, run_dir: Path) -> None:
        config_path = run_dir / f"loadgen-{config['target']}.json"
        config_path.write_text(json.dumps(config))
        self._stderr = (run_dir / f"loadgen-{config['target']}.log").open("wb")
        self._proc = subprocess.Popen(
            [str(binary), "-config", str(config_path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    @property
    def pid(self) -> int:
        return self._proc.pid

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def next_event(self, *, timeout: float) -> dict[str, Any]:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise LoadGenError(f"no answer from the load generator in {timeout:.0f} s") from None
        if line is None:
            raise LoadGenError(f"load generator exited with {self._proc.wait()}")
        event: dict[str, Any] = json.loads(line)
        if event.get("event") == "error":
            raise LoadGenError(str(event.get("error")))
        return event

    def command(self, cmd: dict[str, Any], *, timeout: float) -> dict[str, Any]:
        assert self._proc.stdin is not None
        self._proc.stdin.write(json.dumps(cmd) + "\n")
        self._proc.stdin.flush()
        return self.next_event(timeout=timeout)

    def close(self) -> None:
        try:
            if self._proc.poll() is None and self._proc.stdin is not None:
                self._proc.stdin.write('{"cmd":"quit"}\n')
                self._proc.stdin.flush()
            self._proc.wait(timeout=20)
        except (subprocess.TimeoutExpired, BrokenPipeError, OSError):
            self._proc.kill()
            self._proc.wait()
        finally:
            self._stderr.close()
