"""The server's pydantic models are the wire dataclasses, field for field: same names,
same types, same required/optional split and defaults; and a body goes through both and
comes back the same."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Union, get_args, get_origin

import pydantic
import pytest

from agent.provision import wire
from server.api import wire_models as m

PAIRS: list[tuple[type[Any], type[pydantic.BaseModel]]] = [
    (wire.Problem, m.Problem),
    (wire.LookupRequest, m.LookupRequest),
    (wire.LookupReply, m.LookupReply),
    (wire.ActionSpec, m.ActionSpec),
    (wire.NextReply, m.NextReply),
    (wire.Report, m.Report),
    (wire.ReportReply, m.ReportReply),
    (wire.Progress, m.Progress),
    (wire.Heartbeat, m.Heartbeat),
    (wire.HeartbeatReply, m.HeartbeatReply),
    (wire.LogLines, m.LogLines),
    (wire.LogReply, m.LogReply),
    (wire.Uploaded, m.Uploaded),
]
MODEL_OF = {shape: model for shape, model in PAIRS}


def _plain(tp: Any) -> Any:
    """A type with pydantic's constraints (Annotated, Strict…) taken off, unions flattened
    (an int accepted where the wire reads a float counts as that float), and wire shapes
    named by their model, so both sides can be compared."""
    origin = get_origin(tp)
    if origin is typing.Annotated:
        return _plain(get_args(tp)[0])
    if origin in (Union, types.UnionType):
        members: set[Any] = set()
        for arg in get_args(tp):
            inner = _plain(arg)
            members |= inner if isinstance(inner, frozenset) else {inner}
        if float in members:
            members.discard(int)
        return frozenset(members) if len(members) > 1 else members.pop()
    if origin is not None:
        return (origin, tuple(_plain(a) for a in get_args(tp)))
    return MODEL_OF.get(tp, tp)


@pytest.mark.parametrize(("shape", "model"), PAIRS, ids=[s.__name__ for s, _ in PAIRS])
def test_same_fields_types_and_defaults(shape: type[Any], model: type[pydantic.BaseModel]) -> None:
    fields = {f.name: f for f in dataclasses.fields(shape)}
    hints = typing.get_type_hints(shape)
    assert list(model.model_fields) == list(fields)
    for name, wf in fields.items():
        mf = model.model_fields[name]
        required = wf.default is dataclasses.MISSING and wf.default_factory is dataclasses.MISSING
        assert mf.is_required() == required, name
        if not required:
            default = wf.default_factory() if wf.default is dataclasses.MISSING else wf.default
            assert mf.get_default(call_default_factory=True) == default, name
        assert _plain(mf.annotation) == _plain(hints[name]), name


SAMPLES: list[Any] = [
    wire.Problem("no", wire.UNKNOWN_MACHINE, 30.0),
    wire.LookupRequest(("52:54:00:00:00:01",), {"cpu": {"count": 2}}, "1.0"),
    wire.LookupReply("mt_x", "m1", 5.0, 2.0, 0.5, 30.0),
    wire.NextReply(
        wire.NextKind.ACTION,
        wire.ActionSpec(
            "wf.0",
            "wf",
            "os",
            "write",
            "img",
            60,
            2,
            3,
            ("a", "b"),
            {"K": "0600"},
            ("/a:/a",),
            "host",
        ),
        "wf",
        "go",
        1.5,
        True,
    ),
    wire.NextReply(wire.NextKind.WAIT),
    wire.Report("wf.0", 2, wire.ActionState.FAILED, "boom", 1.25),
    wire.ReportReply(True, wire.WorkflowState.RUNNING, True),
    wire.Heartbeat("wf.0", 1, wire.Progress(10, 100, "bytes")),
    wire.Heartbeat(),
    wire.HeartbeatReply(True, False, "stop"),
    wire.LogLines("wf.0", 1, 5, ("x", "y")),
    wire.LogReply(2),
    wire.Uploaded("disk.img", 10, "0" * 64, "http://s/artifacts/uploads/m1/disk.img"),
]


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: type(s).__name__)
def test_a_body_round_trips_through_both(sample: Any) -> None:
    body = sample.to_json()
    model = MODEL_OF[type(sample)].model_validate(body)
    again = model.model_dump(mode="json")
    assert type(sample).from_json(again) == sample
    assert again == body
