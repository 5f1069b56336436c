"""Gateway throughput: events per second delivered to one consumer, decoded and typed.

Rows (all against the same server, in the same run, interleaved per round):

* ``ours asyncio`` / ``ours trio``: ``AsyncDataClient.subscribe`` on each backend; the
  consumer counts ``MessageCreate`` events (frames parsed, envelope and payload decoded
  by msgspec into ``Message`` structs, routed through the subscription buffer).
  The subscription has the default buffer (1,000 events), as a user gets it: a client
  that dropped events under the burst would never count N, so any drop is reported and
  fails the row instead of being hidden by a buffer as large as the burst.
* ``bare aiohttp``: an aiohttp WebSocket loop doing ``json.loads`` on each frame (no
  typing, no routing, no liveness): the floor a client library is measured against.
  Both read the same frames (one session each, same channel, same events) from the same
  server; neither negotiates compression.

The server runs in a child process pinned to CPU 0 and the client process is pinned to
CPU 1 (when the machine has two). Each round pre-loads N events with the server holding
them, releases them, and times the first to the N-th event as the client sees them; the
three clients run in a rotating order. ``x aiohttp`` is the median of the same-round
ratios. ``CPU us/ev`` is the client process's CPU time per event over the same window:
when it is well below 1e6 / (events/s), the client waited for the server, which then
capped the rate.

By default one run measures against two servers, one table each:

* ``emulator``: the package's Doover emulator (uvicorn, one WebSocket send per event).
  It is about as fast as the clients, so it sets much of the pace: how often a client
  reads, and so how many events each read carries, feeds back into how fast the server
  sends. Ratios here swing from run to run. Target (the gateway issue): >= 0.8x.
* ``raw``: a minimal gateway that speaks just the handshake (Hello, Identify, Ready,
  Subscribe, ChannelSync) and then writes the N prebuilt MessageCreate frames (the
  emulator's shape) in one ``sendall``: the server never sets the pace, so the rates
  compare the clients alone. Target (the runtime issue): >= 1.0x.

    python benchmarks/gateway.py                 # both servers, 5 rounds of 20,000 events
    python benchmarks/gateway.py --rounds 3 --n 50000
    python benchmarks/gateway.py --server raw    # one server only
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing as mp
import os
import statistics
import sys
import time
from typing import Any

CHANNEL = "bench"
#: Per server: the gateway issue's end-to-end target against the emulator, and the
#: runtime issue's client-against-client target where the server is not the bottleneck.
TARGETS = {"emulator": 0.8, "raw": 1.0}
TARGET_WHY = {
    "emulator": "end to end; the emulator's pace is part of the result",
    "raw": "the server never sets the pace: the clients' receive rates",
}


def _pin(cpu: int) -> None:
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) >= 2:
        os.sched_setaffinity(0, {cpu})


def serve(conn: Any) -> None:
    """Child process: an emulator taking ("load", n) and ("release",) commands."""
    _pin(0)
    from pydoover_anyio.emulator import DooverEmulator

    with DooverEmulator() as emu:
        agent = emu.default_agent_id
        emu.state.create_channel(agent, CHANNEL)
        conn.send((emu.url, emu.token, agent))
        counter = 0
        while True:
            command = conn.recv()
            if command[0] == "load":
                emu.gateway.faults.hold = True
                data = [{"i": counter + i, "v": 21.5, "unit": "C"} for i in range(command[1])]
                counter += command[1]
                emu.state.add_messages(agent, CHANNEL, data)
                conn.send("loaded")
            elif command[0] == "release":
                emu.gateway.faults.hold = False
                conn.send("released")
            else:
                break


def serve_raw(conn: Any) -> None:
    """Child process: the minimal gateway of ``--server raw``, same commands as serve()."""
    _pin(0)
    import socket

    from websockets.frames import Frame, Opcode
    from websockets.http11 import Request
    from websockets.server import ServerProtocol

    agent = 204101873322459136
    channel = {"agent_id": str(agent), "name": CHANNEL}
    listener = socket.create_server(("127.0.0.1", 0))
    conn.send((f"http://127.0.0.1:{listener.getsockname()[1]}/api", "token", agent))

    def frame(t: str, d: Any, s: int | None = None) -> bytes:
        """A dispatch as the emulator writes it: {"op", "t", "s", "d"}, compact."""
        body = {"op": 0, "t": t, **({} if s is None else {"s": s}), "d": d}
        text = json.dumps(body, separators=(",", ":"))
        return Frame(Opcode.TEXT, text.encode()).serialize(mask=False, extensions=[])

    def message(i: int) -> bytes:
        data = {"i": i, "v": 21.5, "unit": "C"}
        d = {"id": str(3 * 10**17 + i), "author_id": str(agent), "channel": channel}
        return frame("MessageCreate", {**d, "data": data, "attachments": []}, i + 2)

    def recv_op(sock: socket.socket, proto: ServerProtocol, op: int) -> None:
        while True:
            for event in proto.events_received():
                text = isinstance(event, Frame) and event.opcode is Opcode.TEXT
                if text and json.loads(event.data)["op"] == op:
                    return
            proto.receive_data(sock.recv(65536))

    blob = b""
    while True:
        sock, _ = listener.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        proto = ServerProtocol(max_size=None)
        while not (events := proto.events_received()):
            proto.receive_data(sock.recv(65536))
        request = events[0]
        assert isinstance(request, Request)
        proto.send_response(proto.accept(request))
        sock.sendall(b"".join(proto.data_to_send()) + frame("Hello", {}))
        recv_op(sock, proto, 10)
        ready = {"session_id": "1", "session_token": "t", "subscriptions": [], "replayed": False}
        sock.sendall(frame("Ready", ready))
        recv_op(sock, proto, 12)
        aggregate = {"data": {}, "attachments": [], "last_updated": 1773578090000}
        sock.sendall(frame("ChannelSync", {"channel": channel, "aggregate": aggregate}, 1))
        while True:
            command = conn.recv()
            if command[0] == "load":
                blob = b"".join(message(i) for i in range(command[1]))
                conn.send("loaded")
            elif command[0] == "release":
                conn.send("released")
                sock.sendall(blob)  # the client reads it all before it closes
                break
            else:
                return
        with contextlib.suppress(OSError):  # until the client's Close (echoed), or EOF
            while proto.close_rcvd is None and (data := sock.recv(65536)):
                proto.receive_data(data)
                proto.events_received()
            sock.sendall(b"".join(proto.data_to_send()))
        sock.close()


#: (events/s, client CPU µs per event)
Result = tuple[float, float]


def _result(n: int, start: float, cpu_start: float) -> Result:
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    return (n - 1) / elapsed, cpu / (n - 1) * 1e6


def _release_burst(conn: Any, n: int) -> None:
    """Have the server build ``n`` events and then send them all."""
    conn.send(("load", n))
    conn.recv()
    conn.send(("release",))
    conn.recv()


def run_ours(backend: str, url: str, token: str, agent: int, n: int, conn: Any) -> Result:
    import anyio

    from pydoover_anyio import AsyncDataClient, ChannelSync, EventsDropped, MessageCreate

    async def main() -> Result:
        async with (
            AsyncDataClient(base_url=url, token=token) as client,
            client.subscribe(agent, CHANNEL) as events,
        ):
            first = await events.__anext__()
            assert isinstance(first, ChannelSync)
            _release_burst(conn, n)
            count = 0
            start = cpu_start = 0.0
            async for event in events:
                if type(event) is MessageCreate:
                    if count == 0:
                        start, cpu_start = time.perf_counter(), time.process_time()
                    count += 1
                    if count == n:
                        break
                elif type(event) is EventsDropped:
                    raise RuntimeError(f"ours {backend}: {event.count} events dropped")
            return _result(n, start, cpu_start)

    result: Result = anyio.run(main, backend=backend)
    return result


def run_aiohttp(url: str, token: str, agent: int, n: int, conn: Any) -> Result:
    import asyncio

    import aiohttp

    gateway = url.replace("http://", "ws://").removesuffix("/api") + "/gateway"

    async def main() -> Result:
        headers = {"Authorization": f"Bearer {token}"}
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(gateway, headers=headers) as ws,
        ):
            loads = json.loads
            hello = loads((await ws.receive()).data)
            assert hello["t"] == "Hello"
            await ws.send_str(json.dumps({"op": 10, "d": {"default_connection": False}}))
            assert loads((await ws.receive()).data)["t"] == "Ready"
            channel = {"agent_id": str(agent), "name": CHANNEL}
            await ws.send_str(json.dumps({"op": 12, "d": {"channel": channel}}))
            assert loads((await ws.receive()).data)["t"] == "ChannelSync"
            _release_burst(conn, n)
            count = 0
            start = cpu_start = 0.0
            while count < n:
                msg = await ws.receive()
                frame = loads(msg.data)
                if frame.get("t") == "MessageCreate":
                    if count == 0:
                        start, cpu_start = time.perf_counter(), time.process_time()
                    count += 1
            return _result(n, start, cpu_start)

    return asyncio.run(main())


def measure(server_kind: str, rounds: int, n: int) -> dict[str, list[Result]]:
    """Every client against one server (its own process), ``rounds`` interleaved rounds."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    target = serve if server_kind == "emulator" else serve_raw
    server = ctx.Process(target=target, args=(child,), daemon=True)
    server.start()
    _pin(1)
    url, token, agent = parent.recv()
    runs: dict[str, Any] = {
        "bare aiohttp": lambda: run_aiohttp(url, token, agent, n, parent),
        "ours asyncio": lambda: run_ours("asyncio", url, token, agent, n, parent),
        "ours trio": lambda: run_ours("trio", url, token, agent, n, parent),
    }
    names = list(runs)
    rows: dict[str, list[Result]] = {name: [] for name in names}
    try:
        for round_ in range(rounds):
            order = names[round_ % 3 :] + names[: round_ % 3]
            for name in order:
                rows[name].append(runs[name]())
            print(
                f"{server_kind} round {round_ + 1}: "
                + ", ".join(
                    f"{k} {v[-1][0]:,.0f}/s ({v[-1][1]:.2f} us CPU)" for k, v in rows.items()
                ),
                file=sys.stderr,
            )
    finally:
        parent.send(("stop",))
        server.join(10)
    return rows


def report(server_kind: str, rows: dict[str, list[Result]], rounds: int, n: int) -> bool:
    """Print one server's table; whether every target line passed."""
    target = TARGETS[server_kind]
    base = rows["bare aiohttp"]
    with open("/proc/loadavg") as file:
        load = " ".join(file.read().split()[:3])
    print(f"\n{server_kind} server, {rounds} rounds x {n:,} events; load average {load}")
    print(f"target: ours >= {target}x the bare aiohttp loop ({TARGET_WHY[server_kind]})")
    header = ("client", "median/s", "best/s", "x aiohttp", "CPU us/ev")
    print(f"{header[0]:<14} " + " ".join(f"{h:>10}" for h in header[1:]) + "  target")
    ok = True
    for name, values in rows.items():
        rates = [rate for rate, _ in values]
        ratio = statistics.median(
            rate / other[0] for (rate, _), other in zip(values, base, strict=True)
        )
        cpu = statistics.median(cpu for _, cpu in values)
        verdict = "" if name == "bare aiohttp" else ("PASS" if ratio >= target else "FAIL")
        ok = ok and verdict != "FAIL"
        print(
            f"{name:<14} {statistics.median(rates):>10,.0f} {max(rates):>10,.0f} "
            f"{ratio:>10.2f} {cpu:>10.2f}  {verdict}"
        )
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--server", choices=["both", "emulator", "raw"], default="both")
    args = parser.parse_args()
    kinds = ["emulator", "raw"] if args.server == "both" else [args.server]
    results = {kind: measure(kind, args.rounds, args.n) for kind in kinds}
    verdicts = [report(kind, rows, args.rounds, args.n) for kind, rows in results.items()]
    return 0 if all(verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
