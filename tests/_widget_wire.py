"""A recording comm for kernel-free widget tests.

``comm.create_comm`` is what ipywidgets calls to open a widget's channel to the browser; patching it
with :class:`RecordingComm` captures every message a kernel would send, and :class:`Wire` plays the
browser's part (state updates, button clicks) through the same comm the frontend would use.
"""

from __future__ import annotations

from typing import Any

import comm
from comm.base_comm import BaseComm


class RecordingComm(BaseComm):
    def __init__(self, log: list, **kwargs: Any) -> None:
        self.log = log
        super().__init__(**kwargs)

    def publish_msg(self, msg_type, data=None, metadata=None, buffers=None, **keys):
        self.log.append({"type": msg_type, "comm_id": self.comm_id, "data": data or {}, "buffers": buffers or []})


class Wire:
    def __init__(self) -> None:
        self.log: list[dict] = []

    def create_comm(self, *args: Any, **kwargs: Any) -> RecordingComm:
        return RecordingComm(self.log, *args, **kwargs)

    def clear(self) -> None:
        self.log.clear()

    def updates(self, widget: Any) -> list[dict]:
        """State dicts sent to the browser for ``widget`` since the last :meth:`clear`."""
        return [
            m["data"]["state"]
            for m in self.log
            if m["comm_id"] == widget.model_id and m["type"] == "comm_msg" and m["data"].get("method") == "update"
        ]

    def sent(self, widget: Any, key: str) -> list[Any]:
        """Values of one trait sent for ``widget``, in order."""
        return [u[key] for u in self.updates(widget) if key in u]

    def opened(self) -> int:
        return sum(1 for m in self.log if m["type"] == "comm_open")

    # ---- the browser's side
    def set(self, widget: Any, **state: Any) -> None:
        """A value typed in the browser, as the frontend sends it."""
        msg = {"content": {"data": {"method": "update", "state": state, "buffer_paths": []}}, "buffers": []}
        widget.comm.handle_msg(msg)

    def click(self, button: Any) -> None:
        msg = {"content": {"data": {"method": "custom", "content": {"event": "click"}}}, "buffers": []}
        button.comm.handle_msg(msg)


def install(monkeypatch) -> Wire:
    wire = Wire()
    monkeypatch.setattr(comm, "create_comm", wire.create_comm)
    return wire
