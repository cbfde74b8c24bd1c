"""The MessageStore contract, attachments: a message keeps its files, in the order sent, in
every read. Runs against every adapter in conftest.ADAPTERS."""

from __future__ import annotations

import dataclasses

from gochat import ports
from tests.integration.ports import message_world as world
from tests.integration.ports.message_world import MessageStoreHarness


async def test_a_message_keeps_its_attachments_in_every_read(
    harness: MessageStoreHarness,
) -> None:
    files = (
        ports.AttachmentRecord(7, "cat é.png", "image/png", 1234, "attachments/9100/7"),
        ports.AttachmentRecord(8, "notes.pdf", "application/pdf", 0, "attachments/9100/8"),
    )
    message = dataclasses.replace(world.new_message("look"), attachments=files)
    plain = world.new_message("no files")
    await harness.store.create(message, events=[])
    await harness.store.create(plain, events=[])
    stored = await harness.store.get(world.GENERAL, message.id)
    assert stored is not None and stored.attachments == files
    page = await harness.store.list(world.GENERAL, limit=10)
    assert [m.attachments for m in page] == [(), files]
    edited = await harness.store.edit(
        message,
        content="look again",
        edited_at=message.created_at,
        mention_ids=(),
        mention_everyone=False,
        events=[],
    )
    assert edited.attachments == files
