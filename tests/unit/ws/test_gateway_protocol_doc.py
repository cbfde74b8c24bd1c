"""docs/gateway.md against the code: every op, close code and dispatch type documented as it is
defined, and every JSON example valid under the protocol's models."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from gochat.core import events
from gochat.ws import protocol
from gochat.ws.protocol import CloseCode, Op

DOC = Path(__file__).resolve().parents[3] / "docs" / "gateway.md"
TEXT = DOC.read_text()
EXAMPLES = [json.loads(block) for block in re.findall(r"```json\n(.*?)\n```", TEXT, re.S)]


def _table_rows(first_cell: str) -> dict[str, list[str]]:
    rows = {}
    for line in TEXT.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and re.fullmatch(first_cell, cells[0]):
            rows[cells[0]] = cells
    return rows


def test_every_op_code_is_documented_with_its_name() -> None:
    rows = _table_rows(r"\d{1,2}")
    assert {int(n): cells[1] for n, cells in rows.items()} == {op.value: op.name for op in Op}


def test_every_close_code_is_documented_as_defined() -> None:
    rows = _table_rows(r"4\d{3}")
    assert set(map(int, rows)) == {code.value for code in CloseCode}
    for code, info in protocol.CLOSE_CODES.items():
        cells = rows[str(code.value)]
        assert cells[1] == info.name
        assert cells[2] == ("yes" if info.resumable else "no"), code.name


def test_every_dispatch_type_is_documented() -> None:
    documented = set(re.findall(r"`([A-Z_]+)`", TEXT))
    missing = (set(events.EVENT_PAYLOADS) | set(protocol.GATEWAY_DISPATCHES)) - documented
    assert not missing


@pytest.mark.parametrize("frame", EXAMPLES, ids=lambda f: f"op{f['op']}-{f.get('t') or ''}")
def test_examples_are_valid_frames(frame: dict[str, Any]) -> None:
    op = Op(frame["op"])
    if op is Op.DISPATCH:
        model = events.EVENT_PAYLOADS.get(frame["t"]) or protocol.GATEWAY_DISPATCHES[frame["t"]]
        model.model_validate(frame["d"])
        assert isinstance(frame["s"], int)
    elif op in protocol.INBOUND_OPS and set(frame) == {"op", "d"}:
        protocol.decode(json.dumps(frame))
    elif op is Op.HELLO:
        protocol.Hello.model_validate(frame["d"])
    else:
        assert set(frame) == {"op", "d", "s", "t"} and frame["s"] is None


def test_examples_cover_every_op() -> None:
    assert {Op(f["op"]) for f in EXAMPLES} == set(Op)
