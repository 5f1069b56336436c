"""The I/O-free gateway state machine, frame decoding and the subscription buffer."""

from __future__ import annotations

import json
import math
import random
from typing import Any

import anyio
import pytest

from pydoover_anyio import ChannelSync, EventsDropped, GatewayError, GatewaySettings, MessageCreate
from pydoover_anyio.gateway import Subscription, gateway_url_for
from pydoover_anyio.gateway import _frames as fr
from pydoover_anyio.gateway._protocol import (
    Broadcast,
    Dispatch,
    GatewayProtocol,
    HeartbeatAck,
    Phase,
    SessionCancelled,
    SessionReady,
    Skipped,
    reconnect_delay,
)

KEY = (204101873322459136, "pump_status")
CHANNEL = {"agent_id": str(KEY[0]), "name": KEY[1]}
AGG = {"data": {"rpm": 1}, "attachments": [], "last_updated": 1773578090000}


def frame(t: str, d: Any, s: int | None = None) -> bytes:
    body: dict[str, Any] = {"op": 0, "t": t, "d": d}
    if s is not None:
        body["s"] = s
    return json.dumps(body).encode()


def sent(protocol: GatewayProtocol) -> list[tuple[int, Any]]:
    out = []
    for data, ticket in protocol.data_to_send():
        decoded = json.loads(data)
        out.append((decoded["op"], decoded["d"]))
        if ticket is not None:
            protocol.sent(ticket)
    return out


def ready(p: GatewayProtocol, session: str = "1", subs: list[Any] | None = None, **kw: Any) -> Any:
    d = {"session_id": session, "session_token": "tok", "subscriptions": subs or [], **kw}
    return p.receive(frame("Ready", d))


def connect(p: GatewayProtocol, **kw: Any) -> list[tuple[int, Any]]:
    p.connection_made()
    p.receive(frame("Hello", {}))
    ready(p, **kw)
    return [(op, d) for op, d in sent(p) if op not in (10, 11)]


def message(i: int) -> dict[str, Any]:
    return {"id": str(1000 + i), "author_id": "7", "channel": CHANNEL, "data": {"i": i}}


def test_hello_identify_ready_and_nothing_before_ready() -> None:
    p = GatewayProtocol(organisation_id=5)
    assert p.subscribe(KEY) is True
    p.sync_channel(KEY)
    p.one_shot(KEY, {"x": 1})
    p.connection_made()
    assert sent(p) == []  # nothing before Hello
    p.receive(frame("Hello", {}))
    assert sent(p) == [
        (10, {"default_connection": False, "organisation_id": "5", "sharing_mode": "internal"})
    ]
    assert p.phase is Phase.AWAITING_READY
    assert ready(p) == [SessionReady(False, False, False, subscribed_again=frozenset({KEY}))]
    ops = [op for op, _ in sent(p)]
    assert ops == [12, 14, 15]
    assert p.pending_ops == 0


def test_a_request_cancelled_before_the_writer_took_it_is_not_sent() -> None:
    """A caller that gave up (and may send again) must not have it delivered anyway."""
    p = GatewayProtocol()
    connect(p)
    ticket = p.one_shot(KEY, {"attempt": 1})
    kept = p.sync_channel(KEY)
    p.cancel(ticket)
    assert [(op, t) for op, t in ((json.loads(f)["op"], t) for f, t in p.data_to_send())] == [
        (14, kept)
    ]


def test_a_resync_lapses_with_the_last_subscriber() -> None:
    """A resync asked for while disconnected is sent at the next Ready, unless nobody
    subscribes to the channel any more; either way it never keeps the session busy."""
    p = GatewayProtocol()
    p.subscribe(KEY)
    connect(p)
    p.receive(frame("ChannelSync", {"channel": CHANNEL, "aggregate": AGG}, s=1))
    p.connection_lost()
    p.resync(KEY)
    assert p.pending_ops == 0
    p.connection_made()
    p.receive(frame("Hello", {}))
    ready(p, session="1", subs=[{"channel": CHANNEL}])
    assert [op for op, _ in sent(p) if op != 11] == [14]
    p.connection_lost()
    p.resync(KEY)
    p.unsubscribe(KEY)
    assert p.idle
    p.resync(KEY)  # a channel nobody subscribes to: nothing
    assert p.idle


def test_refcounted_wire_subscription() -> None:
    p = GatewayProtocol()
    connect(p)
    assert p.subscribe(KEY) is True
    assert [op for op, _ in sent(p)] == [12]
    assert p.subscribe(KEY) is False
    assert [op for op, _ in sent(p)] == [14]  # the newcomer gets its own ChannelSync
    assert p.unsubscribe(KEY) is False
    assert sent(p) == []
    assert p.unsubscribe(KEY) is True
    assert [op for op, _ in sent(p)] == [13]
    assert p.idle


def test_resume_sends_seq_and_does_not_resubscribe_listed_channels() -> None:
    p = GatewayProtocol()
    p.subscribe(KEY)
    connect(p)
    p.receive(frame("ChannelSync", {"channel": CHANNEL, "aggregate": AGG}, s=1))
    p.receive(frame("MessageCreate", message(1), s=2))
    p.connection_lost()
    p.connection_made()
    p.receive(frame("Hello", {}))
    (resume,) = sent(p)
    assert resume == (
        11,
        {"session_id": "1", "session_token": "tok", "default_connection": False, "seq": 2},
    )
    listed = [{"channel": CHANNEL, "diff_only": False}]
    out = ready(p, subs=listed, replayed=True)
    assert out == [SessionReady(reconnect=True, resumed=True, replayed=True)]
    assert sent(p) == []  # spec §8 #29: no re-subscribe, nothing to resync


def test_a_replayed_resume_missing_a_channel_says_its_events_were_missed() -> None:
    other = (KEY[0], "pump_log")
    p = GatewayProtocol()
    p.subscribe(KEY)
    p.subscribe(other)
    connect(p)
    for name in (KEY[1], other[1]):
        p.receive(frame("ChannelSync", {"channel": {**CHANNEL, "name": name}, "aggregate": AGG}))
    p.connection_lost()
    listed = [{"channel": CHANNEL, "diff_only": False}]  # the server no longer holds `other`
    p.connection_made()
    p.receive(frame("Hello", {}))
    (ready_out,) = ready(p, subs=listed, replayed=True)
    assert isinstance(ready_out, SessionReady)
    assert ready_out.replayed
    assert ready_out.subscribed_again == {other}
    assert (ready_out.events_missed(KEY), ready_out.events_missed(other)) == (False, True)
    assert [(op, d["channel"]["name"]) for op, d in sent(p) if op != 11] == [(12, "pump_log")]


@pytest.mark.parametrize(
    "odd",
    [{"diff_only": None}, {"organisation_id": ""}, {"organisation_id": {"id": 7}}],
    ids=["null-diff-only", "empty-org", "object-org"],
)
def test_an_odd_subscription_entry_does_not_make_the_ready_unreadable(odd: dict[str, Any]) -> None:
    p = GatewayProtocol()
    p.subscribe(KEY)
    p.connection_made()
    p.receive(frame("Hello", {}))
    listed = [{"channel": CHANNEL, **odd}, {"channel": 5}, "not an entry"]
    (out,) = ready(p, subs=listed)
    assert isinstance(out, SessionReady)
    assert out.subscribed_again == frozenset()  # the odd entry's channel still counts as held
    assert [op for op, _ in sent(p)] == [10, 14]  # no Subscribe again, a sync as for any Ready


@pytest.mark.parametrize(("listed_org", "unsubscribed_org"), [("7", "7"), (None, "7")])
def test_a_channel_left_while_disconnected_is_unsubscribed_in_its_organisation(
    listed_org: str | None, unsubscribed_org: str
) -> None:
    p = GatewayProtocol(organisation_id=5)
    p.subscribe(KEY, organisation_id=7)
    connect(p)
    p.connection_lost()
    p.unsubscribe(KEY)  # the last subscriber leaves while disconnected
    entry: dict[str, Any] = {"channel": CHANNEL, "diff_only": False}
    if listed_org is not None:
        entry["organisation_id"] = listed_org
    out = connect(p, subs=[entry])
    assert out == [(13, {"channel": CHANNEL, "organisation_id": unsubscribed_org})]


def test_resume_without_replay_asks_for_a_sync() -> None:
    p = GatewayProtocol()
    p.subscribe(KEY)
    connect(p)
    p.receive(frame("ChannelSync", {"channel": CHANNEL, "aggregate": AGG}, s=1))
    p.connection_lost()
    out = connect(p, subs=[{"channel": CHANNEL}])
    assert [op for op, _ in out] == [14]


def test_duplicates_by_sequence_number_are_dropped() -> None:
    p = GatewayProtocol()
    p.subscribe(KEY)
    connect(p)
    first = p.receive(frame("MessageCreate", message(1), s=5))
    assert isinstance(first[0], Dispatch)
    assert isinstance(first[0].event, MessageCreate)
    assert first[0].event.message.id == 1001
    assert isinstance(p.receive(frame("MessageCreate", message(1), s=5))[0], Skipped)
    assert isinstance(p.receive(frame("MessageCreate", message(2), s=6))[0], Dispatch)


@pytest.mark.parametrize("replayed", [True, False])
def test_numbering_carries_over_a_resume_only_when_replayed(replayed: bool) -> None:
    p = GatewayProtocol()
    p.subscribe(KEY)
    connect(p)
    p.receive(frame("MessageCreate", message(1), s=5))
    p.connection_lost()
    p.connection_made()
    p.receive(frame("Hello", {}))
    assert sent(p)[0] == (11, {"session_id": "1", "session_token": "tok",
                               "default_connection": False, "seq": 5})  # fmt: skip
    listed = [{"channel": CHANNEL, "diff_only": False}]
    ready(p, subs=listed, replayed=replayed)
    # A server numbering each connection from 1: without a confirmed replay, s=1 is new.
    out = p.receive(frame("ChannelSync", {"channel": CHANNEL, "aggregate": AGG}, s=1))[0]
    assert isinstance(out, Skipped if replayed else Dispatch)


def test_session_cancelled_forgets_the_session() -> None:
    p = GatewayProtocol()
    p.subscribe(KEY)
    connect(p)
    assert p.receive(b'{"op":3,"d":{}}') == [SessionCancelled()]
    assert p.session is None
    p.connection_lost()
    p.connection_made()
    p.receive(frame("Hello", {}))
    assert sent(p)[0][0] == 10
    again = frozenset({KEY})
    assert ready(p, session="2") == [SessionReady(True, False, False, subscribed_again=again)]
    assert [op for op, _ in sent(p)] == [12]  # a fresh session: subscribe again (-> ChannelSync)


def test_requests_survive_a_lost_connection_until_written() -> None:
    p = GatewayProtocol()
    p.subscribe(KEY)
    connect(p)
    p.receive(frame("ChannelSync", {"channel": CHANNEL, "aggregate": AGG}, s=1))
    ticket = p.sync_channel(KEY)
    assert p.data_to_send()  # handed over, but the write never completes
    p.connection_lost()
    assert p.is_pending(ticket)
    out = connect(p, subs=[{"channel": CHANNEL}], replayed=True)
    assert [op for op, _ in out] == [14]
    assert not p.is_pending(ticket)


def test_frames_that_do_not_decode_and_unknown_ones() -> None:
    p = GatewayProtocol()
    p.subscribe(KEY)
    connect(p)
    for bad in (b"not json", b"[1, 2]", frame("MessageCreate", {"bad": 1})):
        with pytest.raises(fr.FrameError):
            p.receive(bad)
    assert isinstance(p.receive(b'{"op":42,"d":{}}')[0], Skipped)
    assert isinstance(p.receive(frame("SomethingNew", {}))[0], Skipped)
    assert p.receive(b'{"op":2,"d":{}}') == [HeartbeatAck()]
    error = p.receive(frame("WSSErrorEvent", {"message": "boom"}))[0]
    assert isinstance(error, Broadcast)
    assert isinstance(error.event, GatewayError)
    other = {"agent_id": "1", "name": "elsewhere"}
    assert isinstance(
        p.receive(frame("ChannelSync", {"channel": other, "aggregate": AGG}))[0], Skipped
    )


ALARM = {
    "id": "77",
    "name": "hot",
    "description": "",
    "enabled": True,
    "key": "t",
    "operator": "gt",
    "value": 5,
    "state": "Alarm",
    "entered_state_ts": 0,
}
CORPUS = [
    frame(
        "Ready", {"session_id": "s", "session_token": "t", "subscriptions": [{"channel": CHANNEL}]}
    ),
    frame("ChannelSync", {"channel": CHANNEL, "aggregate": AGG}, s=1),
    frame("MessageCreate", message(1), s=2),
    frame("MessageUpdate", {"channel": CHANNEL, "message": message(1), "author_id": "9"}, s=3),
    frame("AggregateUpdate", {"channel": CHANNEL, "aggregate": AGG, "request_data": {}}, s=4),
    frame(
        "AlarmTrigger",
        {"channel": CHANNEL, "alarm": ALARM, "old_state": "OK", "new_state": "Alarm"},
        s=5,
    ),
    frame("OneShotMessage", {"channel": CHANNEL, "data": [1, "x"], "author_id": "9"}, s=5),
    frame("ChannelSubscription", {"channel": CHANNEL, "session_id": "12"}, s=6),
    frame("ChannelUnsubscription", {"channel": CHANNEL, "agent_id": "3"}, s=7),
    frame("WSSErrorEvent", {"message": "boom"}, s=8),
    b'{"d":{"channel":{"name":"pump_status","agent_id":"204101873322459136"},'
    b'"aggregate":{"data":null}},"s":"9","t":"ChannelSync","op":0}',  # any key order
]


@pytest.mark.parametrize("data", CORPUS)
def test_the_one_pass_decode_matches_the_two_step_decode(data: bytes) -> None:
    envelope = fr.decode_envelope(data)
    assert envelope.t is not None
    assert fr.decode_frame(data) == (envelope.s, fr.decode_dispatch(envelope.t, envelope.d))


@pytest.mark.parametrize(
    "data",
    [
        b'{"op":2,"d":null}',
        b'{"op":1,"t":"MessageCreate","d":{}}',
        frame("SomethingNew", {}),
        b'{"op":0,"d":{}}',
        b'{"op":0,"t":null,"d":{}}',
        frame("MessageCreate", {"bad": 1}),
        frame("MessageCreate", {**message(1), "id": "-5"}),
        b"not json",
        b"[1, 2]",
        frame("Hello", {"heartbeat_interval": 41250}),  # once per connection, never bad
    ],
)
def test_anything_else_takes_the_two_step_path(data: bytes) -> None:
    assert fr.decode_frame(data) is None


def test_backoff_is_full_jitter_and_capped() -> None:
    rng = random.Random(1)
    delays = [reconnect_delay(a, rng=rng) for a in range(12) for _ in range(20)]
    assert all(0 <= d < 30.0 for d in delays)
    assert max(reconnect_delay(0, rng=rng) for _ in range(100)) < 1.0
    assert max(reconnect_delay(20, rng=rng) for _ in range(200)) > 20.0


def test_gateway_url_for() -> None:
    assert gateway_url_for("https://data.doover.com/api") == "wss://data.doover.com/gateway"
    assert gateway_url_for("http://127.0.0.1:8000/api/") == "ws://127.0.0.1:8000/gateway"
    with pytest.raises(ValueError, match="gateway"):
        gateway_url_for("ftp://x")


def _sync(key: Any) -> ChannelSync:
    return fr.decode_dispatch(
        "ChannelSync",
        fr.decode_envelope(frame("ChannelSync", {"channel": CHANNEL, "aggregate": AGG})).d,
    )


@pytest.mark.anyio
async def test_overflow_drops_newest_then_reports_and_resyncs() -> None:
    requested: list[Any] = []
    sub = Subscription(KEY, 4, requested.append)
    events = [
        fr.decode_dispatch(
            "MessageCreate", fr.decode_envelope(frame("MessageCreate", message(i))).d
        )
        for i in range(10)
    ]
    sub.put(_sync(KEY))
    for event in events:
        sub.put(event)
    assert sub.buffered == 4
    assert sub.dropped == 7
    got = [await sub.__anext__() for _ in range(4)]
    assert isinstance(got[0], ChannelSync)
    assert [e.message.data["i"] for e in got[1:]] == [0, 1, 2]
    marker = await sub.__anext__()
    assert isinstance(marker, EventsDropped)
    assert marker.count == 7
    assert marker.channel.name == KEY[1]
    assert requested == [KEY]
    sub.close()
    with pytest.raises(StopAsyncIteration):
        await sub.__anext__()


@pytest.mark.anyio
async def test_consumer_waits_and_is_cancellable() -> None:
    sub = Subscription(KEY, 8, lambda key: None)
    with anyio.move_on_after(0.05) as scope:
        await sub.__anext__()
    assert scope.cancelled_caught
    sub.fail(RuntimeError("gone"))
    with pytest.raises(RuntimeError, match="gone"):
        await sub.__anext__()


@pytest.mark.anyio
async def test_two_tasks_reading_one_subscription_each_get_events() -> None:
    sub = Subscription(KEY, 8, lambda key: None)
    sync, created = (
        _sync(KEY),
        fr.decode_dispatch(
            "MessageCreate", fr.decode_envelope(frame("MessageCreate", message(1))).d
        ),
    )
    got: dict[str, object] = {}

    async def read(name: str) -> None:
        got[name] = await sub.__anext__()

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(read, "first")
            tg.start_soon(read, "second")
            await anyio.sleep(0.05)  # both wait now
            sub.put(sync)
            await anyio.sleep(0.05)
            sub.put(created)
    assert sorted(got) == ["first", "second"]
    assert sorted(map(id, got.values())) == sorted(map(id, [sync, created]))


@pytest.mark.parametrize(
    "bad",
    [
        {"ping_interval": 0},
        {"open_timeout": -1},
        {"write_timeout": 0},
        {"close_timeout": math.nan},
        {"reconnect_base": 0},
        {"reconnect_cap": 0.5, "reconnect_base": 1.0},
        {"buffer_size": 1},
    ],
)
def test_gateway_settings_refuse_values_that_cannot_work(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be"):
        GatewaySettings(**bad)  # type: ignore[arg-type]
