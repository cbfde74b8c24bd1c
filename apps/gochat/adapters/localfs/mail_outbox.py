"""The embedded `Mailer`: each mail becomes an `.eml` file in an outbox folder, and its link is
logged, so `make dev` needs no mail server and a person (or a test) opens the file instead."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

from gochat import ports
from gochat.adapters import email_message

log = logging.getLogger(__name__)
_LINK = re.compile(r"https?://\S+")


class OutboxMailer:
    def __init__(self, directory: str | Path, *, sender: str) -> None:
        self._directory = Path(directory)
        self._sender = sender

    async def send(self, mail: ports.OutgoingMail) -> None:
        """Raises MailRejected when the mail cannot render; OSError when the folder is unusable."""
        message = email_message.build(mail, sender=self._sender)
        path = await asyncio.to_thread(self._write, message.as_bytes(), kind=mail.kind)
        text = message.get_body(("plain",))
        links = _LINK.findall(text.get_content()) if text is not None else []
        log.info(
            "mail written to the outbox",
            extra={"kind": mail.kind, "to": mail.to, "path": str(path), "links": links},
        )

    def _write(self, data: bytes, *, kind: str) -> Path:
        self._directory.mkdir(parents=True, exist_ok=True)
        # Sortable by time; a partial file is never visible under its final name.
        name = f"{datetime.now(UTC):%Y%m%dT%H%M%S.%fZ}-{kind}-{uuid.uuid4().hex[:8]}.eml"
        final = self._directory / name
        partial = self._directory / f".{name}.tmp"
        partial.write_bytes(data)
        os.replace(partial, final)
        return final
