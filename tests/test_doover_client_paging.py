"""The I/O-free message paging planners, against brute-force model servers.

The model servers follow the listing rules of the wire contract: exclusive bounds; the
newest ``limit`` below ``before`` when it is sent; the oldest ``limit`` above ``after``
when only it is sent; and, for several agents, at most two days between the bounds, a
per-agent limit applied before the overall one.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from pydoover_anyio.client._paging import (
    TWO_DAYS,
    ChannelPlanner,
    MultiAgentForwardPlanner,
    MultiAgentPlanner,
    PageBounds,
)

DAY = TWO_DAYS // 2


@dataclass(frozen=True)
class Msg:
    id: int
    agent: int


def channel_server(ids: list[int], cap: int | None):
    """A channel listing: returns pages as the server would (``cap`` caps ``limit``)."""
    ordered = sorted(set(ids))

    def page(before: int | None, after: int | None, limit: int) -> list[Msg]:
        limit = min(limit, cap) if cap else limit
        inside = [
            i for i in ordered if (after is None or i > after) and (before is None or i < before)
        ]
        chosen = inside[:limit] if before is None and after is not None else inside[::-1][:limit]
        return [Msg(i, 0) for i in chosen]

    return page


def run_channel(planner: ChannelPlanner[Msg], page, size: int) -> tuple[list[int], int]:
    seen: list[int] = []
    requests = 0
    while not planner.finished:
        bounds = planner.next_bounds()
        requests += 1
        assert requests < 10_000
        seen.extend(m.id for m in planner.feed(page(bounds.before, bounds.after, size)))
    return seen, requests


ids_strategy = st.lists(st.integers(min_value=1, max_value=5_000), max_size=120)


@settings(max_examples=300, deadline=None)
@given(
    ids=ids_strategy,
    before=st.none() | st.integers(0, 5_100),
    after=st.none() | st.integers(0, 5_100),
    size=st.integers(1, 12),
    cap=st.none() | st.integers(1, 12),
)
def test_channel_planner_is_exact(ids, before, after, size, cap):
    planner: ChannelPlanner[Msg] = ChannelPlanner(before, after, now_bound=10_000)
    seen, _ = run_channel(planner, channel_server(ids, cap), size)
    inside = sorted(
        {i for i in ids if (after is None or i > after) and (before is None or i < before)}
    )
    forward = before is None and after is not None
    assert seen == (inside if forward else inside[::-1])


def test_channel_planner_sends_before_when_paging_backward():
    planner: ChannelPlanner[Msg] = ChannelPlanner(None, None, now_bound=777)
    assert planner.next_bounds().before == 777
    assert not planner.forward
    both: ChannelPlanner[Msg] = ChannelPlanner(None, 5, now_bound=777)
    assert both.forward
    assert both.next_bounds().before is None


def test_channel_planner_ignores_duplicates_and_out_of_range_ids():
    planner: ChannelPlanner[Msg] = ChannelPlanner(100, 10, now_bound=0)
    page = [Msg(50, 0), Msg(50, 0), Msg(150, 0), Msg(5, 0), Msg(60, 0)]
    assert [m.id for m in planner.feed(page)] == [60, 50]
    assert planner.next_bounds().before == 50
    assert planner.feed([Msg(60, 0)]) == []  # nothing new: finished, not looping
    assert planner.finished


def test_channel_planner_with_adjacent_bounds_requests_nothing():
    assert ChannelPlanner(11, 10, now_bound=0).finished


def multi_server(messages: list[Msg], cap: int | None = None):
    """The multi-agent listing, newest first (``cap`` caps ``limit``)."""
    ordered = sorted(set(messages), key=lambda m: m.id)

    def page(
        agents: list[int], before: int, after: int | None, limit: int, agent_limit: int | None
    ) -> list[Msg]:
        limit = min(limit, cap) if cap else limit
        if after is not None:
            assert before - after <= TWO_DAYS, "the server refuses windows over two days"
        picked: list[Msg] = []
        for agent in agents:
            own = [
                m
                for m in reversed(ordered)
                if m.agent == agent and m.id < before and (after is None or m.id > after)
            ]
            picked.extend(own[:agent_limit] if agent_limit else own)
        picked.sort(key=lambda m: m.id, reverse=True)
        return picked[:limit]

    return page


@settings(max_examples=200, deadline=None)
@given(
    raw=st.lists(
        st.tuples(st.integers(0, 6 * DAY), st.integers(0, 5)), max_size=80, unique_by=lambda t: t[0]
    ),
    before_days=st.none() | st.integers(0, 7),
    after_days=st.none() | st.integers(0, 6),
    size=st.integers(1, 9),
    cap=st.none() | st.integers(1, 9),
    agent_limit=st.none() | st.integers(1, 4),
    chunk=st.integers(1, 6),
)
def test_multi_agent_planner_is_exact(raw, before_days, after_days, size, cap, agent_limit, chunk):
    messages = [Msg(mid, agent) for mid, agent in raw]
    before = None if before_days is None else before_days * DAY + 3
    after = None if after_days is None else after_days * DAY - 5
    agents = list(range(6))
    chunks = [agents[i : i + chunk] for i in range(0, len(agents), chunk)]
    server = multi_server(messages, cap)
    planner: MultiAgentPlanner[Msg] = MultiAgentPlanner(
        before,
        after,
        now_bound=7 * DAY,
        agent_message_limit=agent_limit,
        agent_of=lambda m: m.agent,
    )
    seen: list[int] = []
    requests = 0
    while not planner.finished:
        bounds = planner.next_bounds()
        assert bounds.before is not None
        requests += 1
        assert requests < 10_000
        pages = [server(c, bounds.before, bounds.after, size, agent_limit) for c in chunks]
        seen.extend(m.id for m in planner.feed(pages))
    high = 7 * DAY if before is None else before
    low = max(0, high - TWO_DAYS) if after is None else after
    expected = sorted((m.id for m in messages if low < m.id < high), reverse=True)
    assert seen == expected


def test_multi_agent_planner_walks_two_day_windows_newest_first():
    planner: MultiAgentPlanner[Msg] = MultiAgentPlanner(
        5 * DAY, 0, now_bound=0, agent_message_limit=None, agent_of=lambda m: 0
    )
    windows = []
    while not planner.finished:
        bounds = planner.next_bounds()
        windows.append((bounds.before, bounds.after))
        planner.feed([[]])
    assert windows == [
        (5 * DAY, 3 * DAY),
        (3 * DAY + 1, DAY + 1),
        (DAY + 2, 0),
    ]


def test_multi_agent_planner_without_after_reads_the_two_days_below_before():
    planner: MultiAgentPlanner[Msg] = MultiAgentPlanner(
        None, None, now_bound=3 * DAY, agent_message_limit=None, agent_of=lambda m: m.agent
    )
    assert planner.next_bounds() == PageBounds(3 * DAY, DAY)
    page = [Msg(2 * DAY, 1), Msg(DAY + 5, 2), Msg(DAY, 3), Msg(DAY - 1, 3)]
    assert [m.id for m in planner.feed([page])] == [2 * DAY, DAY + 5]
    assert planner.next_bounds() == PageBounds(DAY + 5, DAY)
    assert planner.feed([[]]) == []
    assert planner.finished


@settings(max_examples=300, deadline=None)
@given(
    raw=st.lists(
        st.tuples(st.integers(0, 6 * DAY), st.integers(0, 5)), max_size=80, unique_by=lambda t: t[0]
    ),
    after=st.integers(-5, 6 * DAY),
    size=st.integers(1, 9),
    cap=st.none() | st.integers(1, 9),
    agent_limit=st.none() | st.integers(1, 4),
    chunk=st.integers(1, 6),
)
def test_multi_agent_forward_planner_is_exact(raw, after, size, cap, agent_limit, chunk):
    messages = [Msg(mid, agent) for mid, agent in raw]
    agents = list(range(6))
    chunks = [agents[i : i + chunk] for i in range(0, len(agents), chunk)]
    server = multi_server(messages, cap)
    ceiling = 6 * DAY + 7
    planner: MultiAgentForwardPlanner[Msg] = MultiAgentForwardPlanner(
        after, ceiling=ceiling, agent_message_limit=agent_limit, agent_of=lambda m: m.agent
    )
    seen: list[int] = []
    requests = 0
    while not planner.finished:
        bounds = planner.next_bounds()
        assert bounds.before is not None
        assert bounds.after is not None
        requests += 1
        assert requests < 10_000
        pages = [server(c, bounds.before, bounds.after, size, agent_limit) for c in chunks]
        seen.extend(m.id for m in planner.feed(pages))
    assert seen == sorted(m.id for m in messages if after < m.id < ceiling)


@settings(max_examples=300, deadline=None)
@given(
    raw=st.lists(
        st.tuples(st.integers(0, 2 * DAY), st.integers(0, 2)), max_size=60, unique_by=lambda t: t[0]
    ),
    arrivals=st.lists(st.tuples(st.integers(0, 30), st.integers(0, 2)), max_size=10),
    size=st.integers(1, 6),
    agent_limit=st.none() | st.integers(1, 4),
)
def test_messages_arriving_during_a_forward_walk_push_none_off(raw, arrivals, size, agent_limit):
    # New messages land at the top of the window the walk reads (it reaches up to now):
    # every message there from the start is still yielded, once, oldest first.
    existing = [Msg(mid, agent) for mid, agent in raw]
    newest = max((m.id for m in existing), default=0)
    pending = sorted(
        ((step, Msg(newest + 1 + n, agent)) for n, (step, agent) in enumerate(arrivals)),
        key=lambda arrival: arrival[0],
    )
    arrived: list[Msg] = []
    planner: MultiAgentForwardPlanner[Msg] = MultiAgentForwardPlanner(
        -1, ceiling=2 * DAY + 100, agent_message_limit=agent_limit, agent_of=lambda m: m.agent
    )
    seen: list[int] = []
    requests = 0
    while not planner.finished:
        while pending and pending[0][0] <= requests:
            arrived.append(pending.pop(0)[1])
        bounds = planner.next_bounds()
        assert bounds.before is not None
        requests += 1
        assert requests < 10_000
        server = multi_server(existing + arrived, None)
        seen.extend(
            m.id
            for m in planner.feed(
                [server([0, 1, 2], bounds.before, bounds.after, size, agent_limit)]
            )
        )
    assert seen == sorted(set(seen))
    assert set(m.id for m in existing) <= set(seen)


def test_multi_agent_forward_planner_costs_about_two_requests_per_page():
    messages = [Msg(DAY + i * 1000, i % 3) for i in range(500)]
    server = multi_server(messages)
    planner: MultiAgentForwardPlanner[Msg] = MultiAgentForwardPlanner(
        DAY - 1, ceiling=DAY + 500_000, agent_message_limit=None, agent_of=lambda m: m.agent
    )
    seen: list[int] = []
    requests = 0
    while not planner.finished:
        bounds = planner.next_bounds()
        requests += 1
        assert bounds.before is not None
        seen.extend(
            m.id for m in planner.feed([server([0, 1, 2], bounds.before, bounds.after, 50, None)])
        )
    assert seen == [m.id for m in messages]
    assert requests <= 2 * 500 // 50 + 2  # descent pages, then each pending window once


def test_multi_agent_forward_planner_walks_two_day_windows_oldest_first():
    planner: MultiAgentForwardPlanner[Msg] = MultiAgentForwardPlanner(
        0, ceiling=5 * DAY, agent_message_limit=None, agent_of=lambda m: 0
    )
    windows = []
    while not planner.finished:
        bounds = planner.next_bounds()
        windows.append((bounds.after, bounds.before))
        planner.feed([[]])
    assert windows == [(0, 2 * DAY), (2 * DAY - 1, 4 * DAY - 1), (4 * DAY - 2, 5 * DAY)]


def test_multi_agent_forward_planner_probes_below_the_frontier():
    planner: MultiAgentForwardPlanner[Msg] = MultiAgentForwardPlanner(
        10, ceiling=100, agent_message_limit=None, agent_of=lambda m: 0
    )
    assert planner.next_bounds() == PageBounds(100, 10)
    assert planner.feed([[Msg(90, 0), Msg(80, 0)]]) == []  # maybe more below 80
    assert planner.next_bounds() == PageBounds(80, 10)  # the probe
    assert planner.feed([[Msg(70, 0)]]) == []  # there was: narrow to (10, 80)
    assert planner.next_bounds() == PageBounds(70, 10)
    assert [m.id for m in planner.feed([[]])] == [70]  # (10, 80) held only 70
    assert planner.next_bounds() == PageBounds(100, 79)  # revisit (79, 100): no probe
    assert [m.id for m in planner.feed([[Msg(90, 0), Msg(80, 0)]])] == [80, 90]
    assert planner.finished


def test_a_revisited_window_that_lost_its_oldest_message_off_the_page_is_probed() -> None:
    planner: MultiAgentForwardPlanner[Msg] = MultiAgentForwardPlanner(
        10, ceiling=100, agent_message_limit=None, agent_of=lambda m: 0
    )
    assert planner.feed([[Msg(90, 0), Msg(80, 0)]]) == []
    assert planner.feed([[Msg(70, 0)]]) == []  # narrow to (10, 80)
    assert [m.id for m in planner.feed([[]])] == [70]
    assert planner.next_bounds() == PageBounds(100, 79)  # revisit (79, 100)
    # Message 95 came in meanwhile: the page of two no longer reaches 80.
    assert planner.feed([[Msg(95, 0), Msg(90, 0)]]) == []
    assert planner.next_bounds() == PageBounds(90, 79)  # so it is probed below 90
    assert [m.id for m in planner.feed([[Msg(80, 0)]])] == [80]  # (79, 90): nothing below
    assert planner.next_bounds() == PageBounds(100, 89)  # revisit (89, 100): 90 proves it
    assert [m.id for m in planner.feed([[Msg(95, 0), Msg(90, 0)]])] == [90, 95]
    assert planner.finished
