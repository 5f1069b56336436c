"""The runner glue of ``doover-anyio``: settings, clients, emulators, the event loop, errors.

Every command is a click function that collects its arguments and hands an async *body*
to :func:`run`. That is the one place that:

* resolves where to connect: ``--emulator`` (both emulators started in-process, seeded,
  for the length of the command), else ``--token`` / ``--profile`` / ``--base-url``
  (and the ``DOOVER_*`` environment variables), else the ``default`` profile of
  ``~/.doover/config`` when there is one;
* runs the body with ``anyio.run`` on ``--backend asyncio`` or ``trio``, with the async
  clients opened (and closed) around it;
* turns what escapes into an exit status (:func:`exit_status`): one line on stderr,
  never a traceback, unless ``--debug``.

Why the async clients and ``anyio.run`` rather than the blocking ``DataClient``: the
commands that matter here are concurrent (a live subscription next to a writer, many
ingest batches in flight, location pages in parallel), and both backends get exercised
by the same code. The blocking facade would add a loop thread per client and a
cross-thread hop per call, for nothing a one-shot process needs.

Exit statuses: 0 success, 1 an error (or items that failed to ingest), 2 a usage error
(click's), 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import traceback
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, ExitStack, contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, TypeVar

import anyio
import click
import httpx
from click.core import ParameterSource

from .. import AsyncDataClient, DooverAPIError
from ..auth import ConfigManager

if TYPE_CHECKING:
    from gps_tracker import AsyncClient as InvoxiaClient
    from gps_tracker.emulator import InvoxiaEmulator

    from ..emulator import DooverEmulator

__all__ = [
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "PROG",
    "CLIError",
    "Emulators",
    "Session",
    "Settings",
    "exit_status",
    "invoxia_options",
    "leaves",
    "run",
    "shared_options",
    "start_emulators",
]

PROG: Final = "doover-anyio"
EXIT_OK: Final = 0
EXIT_ERROR: Final = 1
EXIT_INTERRUPTED: Final = 130

FC = TypeVar("FC", bound=Callable[..., Any])
T = TypeVar("T")


class CLIError(Exception):
    """Something the user can fix (a missing credential, a bad file): one line, exit 1."""


@dataclasses.dataclass
class Settings:
    """Where and how to run a command: filled from options and environment variables.

    Options given before the command (``doover-anyio --emulator messages list ...``) and
    after it (``doover-anyio messages list ... --emulator``) land here alike; the one
    given last wins, and a command-line option beats an environment variable.
    """

    profile: str | None = None
    token: str | None = None
    base_url: str | None = None
    agent_id: int | None = None
    organisation_id: int | None = None
    emulator: bool = False
    backend: str = "asyncio"
    debug: bool = False
    invoxia_username: str | None = None
    invoxia_password: str | None = None
    invoxia_url: str | None = None


# (option declarations, Settings field, click arguments, environment variable)
_SHARED: Final[list[tuple[tuple[str, ...], str, dict[str, Any], str | None]]] = [
    (
        ("--emulator",),
        "emulator",
        {"is_flag": True, "help": "Run against emulators started in-process (seeded demo data)."},
        None,
    ),
    (
        ("--profile",),
        "profile",
        {"metavar": "NAME", "help": "Profile of ~/.doover/config to authenticate with."},
        "DOOVER_PROFILE",
    ),
    (
        ("--token",),
        "token",
        {"metavar": "TOKEN", "help": "Bearer token (overrides the profile's)."},
        "DOOVER_TOKEN",
    ),
    (
        ("--base-url",),
        "base_url",
        {"metavar": "URL", "help": "Data API base URL [default: https://data.doover.com/api]."},
        "DOOVER_BASE_URL",
    ),
    (
        ("--agent-id",),
        "agent_id",
        {"type": click.INT, "metavar": "ID", "help": "Agent whose channels to use."},
        "DOOVER_AGENT_ID",
    ),
    (
        ("--organisation-id",),
        "organisation_id",
        {"type": click.INT, "metavar": "ID", "help": "Organisation header of every request."},
        "DOOVER_ORGANISATION_ID",
    ),
    (
        ("--backend",),
        "backend",
        {
            "type": click.Choice(["asyncio", "trio"]),
            "help": "Event loop to run the async clients on [default: asyncio].",
        },
        "DOOVER_BACKEND",
    ),
    (
        ("--debug",),
        "debug",
        {"is_flag": True, "help": "Show tracebacks and the library's INFO logs."},
        None,
    ),
]

_INVOXIA: Final[list[tuple[tuple[str, ...], str, dict[str, Any], str | None]]] = [
    (
        ("--username",),
        "invoxia_username",
        {"metavar": "EMAIL", "help": "Invoxia account."},
        "INVOXIA_USERNAME",
    ),
    (
        ("--password",),
        "invoxia_password",
        {"metavar": "PASSWORD", "help": "Invoxia password (prefer the environment variable)."},
        "INVOXIA_PASSWORD",
    ),
    (
        ("--invoxia-url",),
        "invoxia_url",
        {"metavar": "URL", "help": "Invoxia API [default: https://labs.invoxia.io]."},
        "INVOXIA_API_URL",
    ),
]


def _store(field: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        assert param.name is not None
        source = ctx.get_parameter_source(param.name)
        if value is not None and source not in (None, ParameterSource.DEFAULT):
            setattr(ctx.ensure_object(Settings), field, value)
        return value

    return callback


def _options(
    specs: list[tuple[tuple[str, ...], str, dict[str, Any], str | None]], *, env: bool
) -> Callable[[FC], FC]:
    def decorate(function: FC) -> FC:
        for declarations, field, arguments, envvar in reversed(specs):
            extra: dict[str, Any] = {}
            if env and envvar is not None:
                extra = {"envvar": envvar, "show_envvar": True}
            function = click.option(
                *declarations,
                field,
                expose_value=False,
                callback=_store(field),
                **arguments,
                **extra,
            )(function)
        return function

    return decorate


def shared_options(*, env: bool = False) -> Callable[[FC], FC]:
    """The connection options, for the root group (``env=True``) and every command.

    Environment variables are read at the root only, so that an option on the command
    line, before or after the command, always beats the environment.
    """
    return _options(_SHARED, env=env)


def invoxia_options() -> Callable[[FC], FC]:
    """``--username`` / ``--password`` / ``--invoxia-url`` (and ``INVOXIA_*``)."""
    return _options(_INVOXIA, env=True)


# -- emulators ---------------------------------------------------------------------------


@dataclasses.dataclass
class Emulators:
    """The emulators a command runs against (``--emulator`` and ``demo``)."""

    doover: DooverEmulator | None = None
    invoxia: InvoxiaEmulator | None = None


@contextmanager
def start_emulators(
    *, doover: bool, invoxia: bool, doover_latency: float = 0.0, invoxia_latency: float = 0.0
) -> Iterator[Emulators]:
    try:
        from gps_tracker.emulator import InvoxiaEmulator

        from ..emulator import DooverEmulator
    except ImportError as exc:  # pragma: no cover - uvicorn is part of the cli extra
        raise CLIError(f"--emulator needs the emulator extra ({exc.name} is missing)") from exc
    from ._seed import seed_doover

    found = Emulators()
    with ExitStack() as stack:
        if doover:
            emulator = DooverEmulator(latency=doover_latency, messages_update_aggregate=True)
            found.doover = stack.enter_context(emulator)
            seed_doover(emulator)
        if invoxia:
            found.invoxia = stack.enter_context(
                InvoxiaEmulator(latency=invoxia_latency, newest=datetime.now(UTC))
            )
        yield found


# -- the session a command body gets -------------------------------------------------------


@dataclasses.dataclass
class Session:
    """What a command body works with: open clients and the resolved defaults."""

    settings: Settings
    emulators: Emulators
    doover_client: AsyncDataClient | None = None
    invoxia_client: InvoxiaClient | None = None
    default_agent: int | None = None

    @property
    def doover(self) -> AsyncDataClient:
        """The Doover client (the command asked for one)."""
        assert self.doover_client is not None
        return self.doover_client

    @property
    def invoxia(self) -> InvoxiaClient:
        """The Invoxia client (the command asked for one)."""
        assert self.invoxia_client is not None
        return self.invoxia_client

    def agent(self) -> int:
        """The agent to use.

        Raises:
            CLIError: None was given and none could be found.
        """
        if self.default_agent is None:
            raise CLIError(
                "no agent: pass --agent-id or set DOOVER_AGENT_ID "
                "(or use a profile that has an AGENT_ID)"
            )
        return self.default_agent


def _doover_client(settings: Settings, emulators: Emulators) -> tuple[AsyncDataClient, int | None]:
    agent: int | None = settings.agent_id
    emulator = emulators.doover
    if emulator is not None:
        if agent is None:
            agent = emulator.default_agent_id
        client = AsyncDataClient(
            emulator.url, token=emulator.token, organisation_id=settings.organisation_id
        )
        return client, agent
    if settings.token is not None and not settings.token.isascii():
        raise CLIError("the token holds a character that is not ASCII (a copy-paste slip?)")
    profile = settings.profile
    if profile is None and settings.token is None:
        if ConfigManager().get("default") is None:
            raise CLIError(
                "no credentials: pass --token or --profile (or set DOOVER_TOKEN or "
                "DOOVER_PROFILE), or use --emulator"
            )
        profile = "default"
    if profile is not None:
        entry = ConfigManager().get(profile)
        if entry is None:
            raise CLIError(f"no profile {profile!r} in ~/.doover/config")
        if agent is None and entry.agent_id:
            try:
                agent = int(entry.agent_id)
            except ValueError:
                raise CLIError(
                    f"profile {profile!r} has an AGENT_ID that is not a number"
                ) from None
    try:
        client = AsyncDataClient(
            settings.base_url,
            profile=profile,
            token=settings.token,
            organisation_id=settings.organisation_id,
        )
    except (ValueError, RuntimeError) as exc:
        raise CLIError(str(exc)) from exc
    return client, agent


def _invoxia_client(settings: Settings, emulators: Emulators) -> InvoxiaClient:
    from gps_tracker import AsyncClient, Config

    emulator = emulators.invoxia
    if emulator is not None:
        return AsyncClient(emulator.config())
    if not settings.invoxia_username or settings.invoxia_password is None:
        raise CLIError(
            "no Invoxia credentials: pass --username and --password (or set "
            "INVOXIA_USERNAME and INVOXIA_PASSWORD), or use --emulator"
        )
    try:
        if settings.invoxia_url:
            config = Config(
                settings.invoxia_username, settings.invoxia_password, settings.invoxia_url
            )
        else:
            config = Config(settings.invoxia_username, settings.invoxia_password)
    except (TypeError, ValueError) as exc:
        raise CLIError(str(exc)) from exc
    return AsyncClient(config)


async def _session(
    settings: Settings,
    emulators: Emulators,
    body: Callable[[Session], Awaitable[T]],
    doover: bool,
    invoxia: bool,
) -> T:
    session = Session(settings, emulators)
    async with AsyncExitStack() as stack:
        if doover:
            client, session.default_agent = _doover_client(settings, emulators)
            session.doover_client = await stack.enter_async_context(client)
        if invoxia:
            session.invoxia_client = await stack.enter_async_context(
                _invoxia_client(settings, emulators)
            )
        return await body(session)


def run(
    settings: Settings,
    body: Callable[[Session], Awaitable[T]],
    *,
    doover: bool = True,
    invoxia: bool = False,
    emulators: Emulators | None = None,
) -> T:
    """Run a command body on the chosen backend, with its clients (and emulators) open.

    Args:
        settings: The parsed options.
        body: The command's async part.
        doover: Open a Doover client for it.
        invoxia: Open an Invoxia client for it.
        emulators: Emulators the caller started already (``demo``); otherwise
            ``--emulator`` starts the ones needed, seeded.

    Returns:
        What the body returned.
    """
    _configure_logging(settings.debug)
    if settings.backend == "trio":
        try:
            import trio  # noqa: F401
        except ImportError:
            raise CLIError("--backend trio needs trio: pip install trio") from None
    with ExitStack() as stack:
        if emulators is None:
            emulators = Emulators()
            if settings.emulator:
                emulators = stack.enter_context(start_emulators(doover=doover, invoxia=invoxia))
        return anyio.run(
            _session, settings, emulators, body, doover, invoxia, backend=settings.backend
        )


def _configure_logging(debug: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if debug:
        handler.setFormatter(logging.Formatter(f"{PROG}: %(name)s: %(levelname)s: %(message)s"))
    else:
        handler.setFormatter(logging.Formatter(f"{PROG}: %(levelname)s: %(message)s"))
    level = logging.INFO if debug else logging.WARNING
    for name in ("pydoover_anyio", "gps_tracker"):
        library = logging.getLogger(name)
        library.handlers[:] = [handler]
        library.setLevel(level)
        library.propagate = False


# -- errors -> exit statuses ---------------------------------------------------------------


def leaves(exc: BaseException) -> list[BaseException]:
    """The exceptions inside (nested) exception groups, or ``[exc]``."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in leaves(inner)]
    return [exc]


def _describe(exc: BaseException) -> str | None:
    """One line for an error the user can act on; ``None`` for a bug."""
    from gps_tracker.client.exceptions import ApiConnectionError, GpsTrackerException

    if isinstance(exc, CLIError | DooverAPIError):
        return str(exc) or type(exc).__name__
    if isinstance(exc, ApiConnectionError):
        cause = exc.__cause__
        return f"cannot reach the Invoxia API: {cause or 'connection failed'}"
    if isinstance(exc, GpsTrackerException):
        status = getattr(exc, "status", None)
        request = getattr(exc, "request", None)
        text = str(exc) or type(exc).__name__
        if status is not None and request:
            return f"Invoxia API: HTTP {status} on {request}: {text}"
        return f"Invoxia API: {text}"
    if isinstance(exc, OSError):
        if exc.filename is not None and exc.strerror:
            return f"{exc.filename}: {exc.strerror}"
        return str(exc) or type(exc).__name__
    if isinstance(exc, httpx.InvalidURL):  # a --base-url or --invoxia-url httpx cannot read
        return f"invalid URL: {exc}"
    return None


def exit_status(exc: BaseException, settings: Settings) -> int:
    """Report an exception that ended a command and return the process exit status.

    ``KeyboardInterrupt`` (also inside an exception group, as trio delivers it) is a
    quiet 130; a known error is one line on stderr and 1; anything else is a bug,
    reported as one line too unless ``--debug``, which prints the traceback.
    """
    found = leaves(exc)
    if any(isinstance(leaf, KeyboardInterrupt | click.Abort) for leaf in found):
        return EXIT_INTERRUPTED
    if isinstance(exc, click.ClickException):
        exc.show()
        return exc.exit_code
    # Cancellations (BaseExceptions) ride along with the error that caused them.
    wanted = [leaf for leaf in found if isinstance(leaf, Exception)]
    leaf = wanted[0] if wanted else exc
    if settings.debug:
        traceback.print_exception(exc, file=sys.stderr)
    message = _describe(leaf)
    if message is None:
        message = f"internal error: {type(leaf).__name__}: {leaf}"
        if not settings.debug:
            message += " (run with --debug for the traceback)"
    click.echo(f"{PROG}: error: {_one_line(message)}", err=True)
    return EXIT_ERROR


#: Characters of an error message shown (a server's error page can be long).
_MESSAGE_LIMIT: Final = 500


def _one_line(message: str) -> str:
    """``message`` on one line (an HTML error page's line breaks and indents folded)."""
    folded = " ".join(message.split())
    if len(folded) > _MESSAGE_LIMIT:
        folded = folded[: _MESSAGE_LIMIT - 1] + "…"
    return folded
