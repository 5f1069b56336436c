"""Wire conformance: the same calls through pydoover 1.18.3's sync ``DataClient`` and ours
send the same requests (method, path, query, decompressed JSON body, organisation header,
compression) to the emulator.

Intentional differences, each tested on its own below:

* Channel names are percent-escaped (pydoover inserted them raw, so ``/``, ``?``, ``#`` or
  ``%`` in a name reached another URL). Plain names give identical paths.
* ``iter_messages`` always sends ``before`` when paging backward (pydoover sent no bound
  and broke with ``after`` alone); ``iter_multi_agent_messages`` pages backward in
  windows.
* Multipart: the ``json_payload`` part is a plain form field holding compact JSON
  (pydoover's sync client sent it as a file part named ``json_payload`` with spaced JSON);
  the JSON value is the same.
* ``User-Agent`` names pydoover-anyio (pydoover's sync client sent httpx's default).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from typing import Any

import pydoover.api
import pytest
from doover_client_support import CHANNEL, api_requests, multipart_parts
from pydoover.models.data import BatchMutationItem as TheirItem
from pydoover.models.data import File as TheirFile

from pydoover_anyio.emulator import DooverEmulator, LoggedRequest
from pydoover_anyio.models import BatchMutationItem as OurItem
from pydoover_anyio.models import File as OurFile
from pydoover_anyio.snowflake import SnowflakeType, generate_snowflake_id_at
from pydoover_anyio.sync import DataClient

pytest_plugins = ["pydoover_anyio.emulator.pytest_plugin", "doover_client_fixtures"]

UTC = dt.UTC
T0 = dt.datetime(2026, 3, 15, 12, 0, 0, tzinfo=UTC)
OTHER_AGENT = generate_snowflake_id_at(dt.datetime(2025, 6, 1, tzinfo=UTC), SnowflakeType.Agent)
MESSAGES = [
    generate_snowflake_id_at(T0 + dt.timedelta(hours=h), SnowflakeType.Message, instance_id=h)
    for h in range(4)
]
NEW_ID = generate_snowflake_id_at(T0 + dt.timedelta(hours=5), SnowflakeType.Message)
LONG_TEXT = "pressure reading well above the compression threshold"


def seed(emu: DooverEmulator) -> None:
    """The same data before every run: two agents with ``pump_log``, four messages each."""
    state = emu.state
    state.add_agent("other", agent_id=OTHER_AGENT)
    for agent in (emu.default_agent_id, OTHER_AGENT):
        state.create_channel(agent, CHANNEL)
        for index, message_id in enumerate(MESSAGES):
            state.add_message(
                agent, CHANNEL, {"rpm": index, "a": {"b": index}}, message_id=message_id + agent % 7
            )
    first = MESSAGES[0] + emu.default_agent_id % 7
    state.add_message_log(
        emu.default_agent_id, CHANNEL, first, {"timestamp": 1, "type": "user.log"}
    )


def message(emu: DooverEmulator, index: int) -> int:
    return MESSAGES[index] + emu.default_agent_id % 7


Scenario = Callable[[Any, DooverEmulator, dict[str, Any]], object]


def attachment_scenario(c: Any, emu: DooverEmulator, kit: dict[str, Any]) -> None:
    made = c.create_message(emu.default_agent_id, CHANNEL, {"cam": 1}, files=[kit["file"]])
    c.fetch_message_attachment(
        c.fetch_message(emu.default_agent_id, CHANNEL, made.id).attachments[0]
    )


def aggregate_attachment_scenario(c: Any, emu: DooverEmulator, kit: dict[str, Any]) -> None:
    aggregate = c.update_channel_aggregate(
        emu.default_agent_id, CHANNEL, {"v": 1}, files=[kit["file"]]
    )
    attachment_id = int(aggregate.attachments[0].url.rsplit("/", 1)[1])
    c.fetch_channel_aggregate_attachment(emu.default_agent_id, CHANNEL, attachment_id, 11)


SCENARIOS: dict[str, Scenario] = {
    "list_channels": lambda c, e, k: (
        c.list_channels(e.default_agent_id),
        c.list_channels(e.default_agent_id, False, False, 5),
    ),
    "fetch_channel": lambda c, e, k: (
        c.fetch_channel(e.default_agent_id, CHANNEL),
        c.fetch_channel(e.default_agent_id, CHANNEL, include_aggregate=False, organisation_id=6),
    ),
    "create_channel": lambda c, e, k: (
        c.create_channel(e.default_agent_id, "new", True, {"type": "object"}, None, 7, 1000, 60),
        c.create_channel(e.default_agent_id, "newer"),
    ),
    "put_channel": lambda c, e, k: c.put_channel(
        e.default_agent_id, "settings", False, aggregate_schema={"type": "object"}, default_ttl=5
    ),
    "archive_unarchive": lambda c, e, k: (
        c.archive_channel(e.default_agent_id, CHANNEL),
        c.unarchive_channel(e.default_agent_id, CHANNEL, organisation_id=8),
    ),
    "list_data_series": lambda c, e, k: c.list_data_series(
        e.default_agent_id, f"{CHANNEL}.rpm", before=message(e, 3), after=T0, limit=5
    ),
    "list_messages": lambda c, e, k: (
        c.list_messages(e.default_agent_id, CHANNEL),
        c.list_messages(
            e.default_agent_id,
            CHANNEL,
            before=T0 + dt.timedelta(hours=3),
            after=message(e, 0),
            limit=3,
            field_names=["rpm", "a.b"],
        ),
    ),
    "fetch_message_and_logs": lambda c, e, k: (
        c.fetch_message(e.default_agent_id, CHANNEL, message(e, 1)),
        c.fetch_message_logs(e.default_agent_id, CHANNEL, message(e, 0)),
    ),
    "create_message": lambda c, e, k: (
        c.create_message(e.default_agent_id, CHANNEL, {"rpm": 1}),
        c.create_message(
            e.default_agent_id, CHANNEL, {"note": LONG_TEXT}, timestamp=1_773_578_096_789
        ),
        c.create_message(
            e.default_agent_id, CHANNEL, {"rpm": 2}, message_id=NEW_ID, organisation_id=4
        ),
    ),
    "create_message_with_files": lambda c, e, k: c.create_message(
        e.default_agent_id, CHANNEL, {"cam": "on"}, files=[k["file"], k["file2"]]
    ),
    "update_message": lambda c, e, k: (
        c.update_message(e.default_agent_id, CHANNEL, message(e, 1), {"x": 1}),
        c.update_message(e.default_agent_id, CHANNEL, message(e, 1), {"note": LONG_TEXT}, True),
        c.update_message(
            e.default_agent_id,
            CHANNEL,
            message(e, 2),
            {"y": 2},
            suppress_response=True,
            clear_attachments=True,
        ),
        c.update_message(e.default_agent_id, CHANNEL, message(e, 3), {"z": 3}, files=[k["file"]]),
    ),
    "delete_message": lambda c, e, k: c.delete_message(e.default_agent_id, CHANNEL, message(e, 2)),
    "fetch_message_attachment": attachment_scenario,
    "fetch_timeseries": lambda c, e, k: c.fetch_timeseries(
        e.default_agent_id, CHANNEL, ["rpm", "a.b"], before=message(e, 3), after=T0, limit=2
    ),
    "aggregates": lambda c, e, k: (
        c.update_channel_aggregate(e.default_agent_id, CHANNEL, {"s": {"x": 1}}),
        c.update_channel_aggregate(
            e.default_agent_id,
            CHANNEL,
            {"s": {"note": LONG_TEXT}},
            log_update=True,
            replace_keys=["s", "t.u"],
        ),
        c.update_channel_aggregate(
            e.default_agent_id, CHANNEL, {"k": 1}, True, return_aggregate=False
        ),
        c.update_channel_aggregate(
            e.default_agent_id, CHANNEL, {"k": 2}, suppress_response=True, clear_attachments=True
        ),
        c.fetch_channel_aggregate(e.default_agent_id, CHANNEL, 9),
    ),
    "aggregate_attachment": aggregate_attachment_scenario,
    "multi_agent": lambda c, e, k: (
        c.fetch_multi_agent_messages(
            CHANNEL,
            [e.default_agent_id, OTHER_AGENT],
            before=T0 + dt.timedelta(days=1),
            after=message(e, 0),
            limit=3,
            agent_message_limit=2,
            field_names=["rpm"],
        ),
        c.fetch_multi_agent_aggregates(CHANNEL, [e.default_agent_id, OTHER_AGENT], 12),
    ),
    "batches": lambda c, e, k: (
        c.batch_create_messages(
            [
                k["item"](e.default_agent_id, CHANNEL, {"n": 1}, timestamp=T0, ttl=5),
                k["item"](OTHER_AGENT, CHANNEL, {"n": 2}, message_id=NEW_ID, suppress_hooks=True),
            ]
        ),
        c.batch_update_messages(
            [k["item"](e.default_agent_id, CHANNEL, {"u": 1}, message_id=message(e, 1))]
        ),
        c.batch_update_messages(
            [k["item"](e.default_agent_id, CHANNEL, {"u": 2}, message_id=message(e, 1))], True, 3
        ),
        c.batch_delete_messages([k["item"](e.default_agent_id, CHANNEL, message_id=message(e, 2))]),
        c.batch_update_aggregates(
            [k["item"](e.default_agent_id, CHANNEL, {"g": 1}, replace=["g"])]
        ),
    ),
}

_MINTED = re.compile(r"\d{15,20}")


def normalise(text: str, known: set[str]) -> str:
    """Replace ids minted during a run (which differ between runs) by a placeholder."""
    return _MINTED.sub(lambda m: m.group() if m.group() in known else "<minted>", text)


def body_of(request: LoggedRequest, known: set[str]) -> object:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        parts = []
        for part in multipart_parts(request):
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            if name == "json_payload":  # pydoover sends it as a file, with spaced JSON
                parts.append((name, json.loads(payload)))
            else:
                parts.append((name, part.get_filename(), part.get_content_type(), payload))
        return parts
    if not request.body:
        return None
    return json.loads(normalise(json.dumps(request.json(), sort_keys=True), known))


def wire(request: LoggedRequest, known: set[str], token: str) -> dict[str, object]:
    headers = request.headers
    return {
        "method": request.method,
        "path": normalise(request.path, known),
        "query": normalise(request.query, known),
        "body": body_of(request, known),
        "gzip": headers.get("content-encoding"),
        "organisation": headers.get("x-doover-organisation"),
        "authorised": headers.get("authorization") == f"Bearer {token}",
    }


def run(emu: DooverEmulator, scenario: Scenario, theirs: bool) -> list[dict[str, object]]:
    emu.reset()
    seed(emu)
    if theirs:
        client: Any = pydoover.api.DataClient(emu.url, token=emu.token, organisation_id=3)
        kit = {
            "file": TheirFile("a.txt", "text/plain", 3, b"abc"),
            "file2": TheirFile("b.bin", "application/octet-stream", 2, b"\x00\x01"),
            "item": TheirItem,
        }
    else:
        client = DataClient(emu.url, token=emu.token, organisation_id=3)
        kit = {
            "file": OurFile("a.txt", "text/plain", 3, b"abc"),
            "file2": OurFile("b.bin", "application/octet-stream", 2, b"\x00\x01"),
            "item": OurItem,
        }
    try:
        scenario(client, emu, kit)
        # The emulator may log a response with an empty body just after the client has
        # it; a last request on the same connection is handled only after that.
        client.fetch_channel(emu.default_agent_id, CHANNEL, include_aggregate=False)
    finally:
        client.close()
    known = {str(emu.default_agent_id), str(OTHER_AGENT), str(NEW_ID)}
    known |= {str(message(emu, i)) for i in range(len(MESSAGES))}
    return [wire(r, known, emu.token) for r in api_requests(emu)]


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_same_requests_as_pydoover(emu: DooverEmulator, name: str) -> None:
    expected = run(emu, SCENARIOS[name], theirs=True)
    actual = run(emu, SCENARIOS[name], theirs=False)
    assert actual == expected
    assert all(r["authorised"] for r in actual)


# -- intentional differences ---------------------------------------------------------------


def test_special_channel_names_are_escaped(emu: DooverEmulator) -> None:
    name = "site 1/pump?x#y%z"
    emu.state.create_channel(emu.default_agent_id, name)
    with DataClient(emu.url, token=emu.token) as client:
        assert client.fetch_channel(emu.default_agent_id, name).name == name
    theirs = pydoover.api.DataClient(emu.url, token=emu.token)
    try:
        with pytest.raises(pydoover.api.NotFoundError):
            theirs.fetch_channel(emu.default_agent_id, name)
    finally:
        theirs.close()
    ours, pydoovers = api_requests(emu)
    assert ours.path == f"/api/agents/{emu.default_agent_id}/channels/{name}"  # decoded
    assert pydoovers.path == f"/api/agents/{emu.default_agent_id}/channels/site 1/pump"


def test_plain_channel_names_with_spaces_give_the_same_path(emu: DooverEmulator) -> None:
    emu.state.create_channel(emu.default_agent_id, "pump log")
    with DataClient(emu.url, token=emu.token) as client:
        client.fetch_channel(emu.default_agent_id, "pump log")
    theirs = pydoover.api.DataClient(emu.url, token=emu.token)
    try:
        theirs.fetch_channel(emu.default_agent_id, "pump log")
    finally:
        theirs.close()
    ours, pydoovers = api_requests(emu)
    assert ours.path == pydoovers.path
    assert ours.query == pydoovers.query


def test_iter_messages_sends_before_where_pydoover_sent_no_bound(emu: DooverEmulator) -> None:
    seed(emu)
    agent = emu.default_agent_id
    with DataClient(emu.url, token=emu.token) as client:
        ours = client.iter_messages(agent, CHANNEL, page_size=10).collect()
    theirs_client = pydoover.api.DataClient(emu.url, token=emu.token)
    try:
        theirs = theirs_client.iter_messages(agent, CHANNEL, page_size=10).collect()
        forward_theirs = theirs_client.iter_messages(
            agent, CHANNEL, after=message(emu, 0), page_size=2
        ).collect()
    finally:
        theirs_client.close()
    assert [m.id for m in ours] == [m.id for m in theirs]
    ours_first, _, theirs_first, *_ = api_requests(emu)
    assert "before=" in ours_first.query
    assert theirs_first.query == "limit=10"
    with DataClient(emu.url, token=emu.token) as client:
        forward = client.iter_messages(agent, CHANNEL, after=message(emu, 0), page_size=2).collect()
    expected = [message(emu, i) for i in (1, 2, 3)]
    assert [m.id for m in forward] == expected
    assert [m.id for m in forward_theirs] != expected  # pydoover's known defect (§8 #13)


def test_user_agent_names_this_library(emu: DooverEmulator) -> None:
    with DataClient(emu.url, token=emu.token) as client:
        client.list_channels(emu.default_agent_id)
    (request,) = api_requests(emu)
    assert request.headers["user-agent"].startswith("pydoover-anyio/")
