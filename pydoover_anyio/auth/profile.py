"""The profile file ``~/.doover/config`` shared with pydoover, the doover CLI and doover-js.

Format (spec §2.3): blocks separated by blank lines. A block is a *profile* when its
first line is ``[profile=<name>]`` and every further line is ``KEY=value`` (split at
the first ``=``, nothing trimmed)::

    [profile=default]
    TOKEN=eyJ...
    TOKEN_EXPIRES=1773581696.0
    AGENT_ID=...
    BASE_URL=https://api.doover.com
    REFRESH_TOKEN=...
    REFRESH_TOKEN_ID=...
    BASE_DATA_URL=https://data.doover.com/api
    AUTH_SERVER_URL=https://auth.doover.com
    AUTH_SERVER_CLIENT_ID=...

Rules this module enforces:

* Anything else is kept byte for byte: blocks that are not profiles, legacy "Doover 1"
  blocks (``USERNAME``/``PASSWORD`` without ``IS_DOOVER2=True``), the blank lines between
  blocks, line endings, and profiles that were read and not changed.
* A changed profile is rewritten with the nine keys in the order above (empty value
  for ``None``), followed by any keys this module does not know; the legacy keys
  ``USERNAME``, ``PASSWORD`` and ``IS_DOOVER2`` are dropped. New profiles are appended.
* ``TOKEN_EXPIRES`` is read as Unix seconds or as ISO-8601 (what doover-js writes) and
  written as Unix seconds; an unreadable value counts as unknown, with a warning.
* A later block with the same profile name wins; the earlier one is kept verbatim.
* Writing is atomic (a temporary file in the same directory, then ``os.replace``);
  the file gets mode ``0600`` and a directory created for it ``0700``.
* A read-edit-write made in :meth:`ConfigManager.editing` holds an exclusive lock for its
  whole length: a lock per file within the process, and on POSIX also ``flock`` on a
  lock file beside it (``.<name>.lock``, never removed) for other processes using this
  library. So two write-backs of different profiles never undo each other. Programs
  that do not take the lock (the doover CLI) can still interleave.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
import re
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

from ._defaults import DEFAULT_CONFIG_PATH
from ._token import ExpiryInput, as_datetime, expiry_timestamp

__all__ = ["AuthProfile", "ConfigManager"]

logger = logging.getLogger("pydoover_anyio.auth")

_HEADER: Final = re.compile(r"\[profile=(?P<name>.+)\]")
#: Two or more line breaks end a block; the separator is captured to be re-emitted.
_SEPARATOR: Final = re.compile(r"((?:\r?\n){2,})")
_ENDS_WITH_BLANK_LINE: Final = re.compile(r"(?:\r?\n){2}\Z")
#: File keys in write order, with the AuthProfile attribute each one holds.
_KEYS: Final = (
    ("TOKEN", "token"),
    ("TOKEN_EXPIRES", "token_expires"),
    ("AGENT_ID", "agent_id"),
    ("BASE_URL", "control_base_url"),
    ("REFRESH_TOKEN", "refresh_token"),
    ("REFRESH_TOKEN_ID", "refresh_token_id"),
    ("BASE_DATA_URL", "data_base_url"),
    ("AUTH_SERVER_URL", "auth_server_url"),
    ("AUTH_SERVER_CLIENT_ID", "auth_server_client_id"),
)
_KNOWN_KEYS: Final = frozenset(key for key, _ in _KEYS)
_LEGACY_KEYS: Final = frozenset({"USERNAME", "PASSWORD", "IS_DOOVER2"})


@dataclass(slots=True, repr=False)
class AuthProfile:
    """One profile of the config file; empty strings are stored as ``None``.

    Args:
        profile: the profile name.
        token: the access token.
        token_expires: its expiry: a ``datetime`` (naive means UTC) or Unix seconds.
        agent_id: the user's own agent id.
        control_base_url: the control API base (``BASE_URL``).
        data_base_url: the data API base (``BASE_DATA_URL``).
        refresh_token: the refresh token.
        refresh_token_id: the refresh token's id (stored, never sent).
        auth_server_url: the auth server base.
        auth_server_client_id: the OAuth client id used to refresh.
    """

    profile: str
    token: str | None = None
    token_expires: datetime | None = None
    agent_id: str | None = None
    control_base_url: str | None = None
    data_base_url: str | None = None
    refresh_token: str | None = None
    refresh_token_id: str | None = None
    auth_server_url: str | None = None
    auth_server_client_id: str | None = None

    def __post_init__(self) -> None:
        for _, name in _KEYS:
            if name != "token_expires" and not getattr(self, name):
                setattr(self, name, None)
        expires: ExpiryInput = self.token_expires
        self.token_expires = as_datetime(expiry_timestamp(expires))

    @property
    def base_url(self) -> str | None:
        """The control API base, under its file key's name (``BASE_URL``)."""
        return self.control_base_url

    @base_url.setter
    def base_url(self, value: str | None) -> None:
        self.control_base_url = value or None

    @property
    def base_data_url(self) -> str | None:
        """The data API base, under its file key's name (``BASE_DATA_URL``)."""
        return self.data_base_url

    @base_data_url.setter
    def base_data_url(self, value: str | None) -> None:
        self.data_base_url = value or None

    def format(self) -> str:
        """The profile as a file block: header, the nine keys, a final newline."""
        lines = [f"[profile={self.profile}]"]
        for key, name in _KEYS:
            value = getattr(self, name)
            if isinstance(value, datetime):
                value = repr(value.timestamp())
            lines.append(f"{key}={value or ''}")
        return "\n".join(lines) + "\n"

    def __repr__(self) -> str:
        shown = []
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if item.name in ("token", "refresh_token") and value is not None:
                value = "<set>"
            shown.append(f"{item.name}={value!r}")
        return f"AuthProfile({', '.join(shown)})"


@dataclass(slots=True)
class _Block:
    """One block of the file as read, with the separator that followed it."""

    text: str
    separator: str
    name: str | None = None  # set for a profile block
    original: AuthProfile | None = None  # the profile as read, to detect changes
    extra_lines: tuple[str, ...] = field(default=())  # unknown keys, kept on rewrite


class ConfigManager:
    """Reads, edits and atomically writes the profile file.

    The file is read on construction (a missing file reads as empty).

    Args:
        current_profile: the profile :attr:`current` refers to.
        path: the file; by default ``~/.doover/config``.
    """

    def __init__(
        self,
        current_profile: str | None = None,
        *,
        path: str | os.PathLike[str] | None = None,
    ) -> None:
        self.current_profile = current_profile
        self.path = _expand(path)
        self.entries: dict[str, AuthProfile] = {}
        self._blocks: list[_Block] = []
        self.read()

    @classmethod
    @contextlib.contextmanager
    def editing(
        cls, current_profile: str | None = None, *, path: str | os.PathLike[str] | None = None
    ) -> Iterator[ConfigManager]:
        """A manager read under the file's exclusive lock, held until the block ends.

        Edit it and call :meth:`write` inside the block: no other edit made this way (in
        any thread, or on POSIX in any process) can come between the read and the write.

        Raises:
            OSError: the file or its lock file cannot be read or created.
        """
        with _exclusive(_expand(path)):
            yield cls(current_profile, path=path)

    @property
    def current(self) -> AuthProfile | None:
        """The profile named by ``current_profile``, if it exists."""
        if self.current_profile is None:
            return None
        return self.entries.get(self.current_profile)

    def get(self, profile_name: str) -> AuthProfile | None:
        """The profile called ``profile_name``, or ``None``."""
        return self.entries.get(profile_name)

    def create(self, entry: AuthProfile) -> None:
        """Add ``entry``, replacing the profile of the same name in place."""
        self.entries[entry.profile] = entry

    def delete(self, profile_name: str) -> None:
        """Remove a profile (if present); its block disappears on the next write."""
        self.entries.pop(profile_name, None)

    def read(self) -> None:
        """(Re)load the file; a missing file reads as empty.

        Raises:
            OSError: the file exists but cannot be read.
        """
        try:
            # Surrogate escapes carry bytes that are not UTF-8 through a rewrite unchanged;
            # newline="" keeps the line endings as they are.
            with open(self.path, encoding="utf-8", errors="surrogateescape", newline="") as file:
                contents = file.read()
        except FileNotFoundError:
            contents = ""
        self.parse(contents)

    def parse(self, contents: str) -> None:
        """Replace the in-memory state with the profiles of ``contents``."""
        parts = _SEPARATOR.split(contents)
        blocks = [
            _parse_block(parts[index], parts[index + 1] if index + 1 < len(parts) else "")
            for index in range(0, len(parts), 2)
        ]
        last_of_name = {block.name: index for index, block in enumerate(blocks) if block.name}
        for index, block in enumerate(blocks):
            if block.name is not None and last_of_name[block.name] != index:
                block.name = block.original = None  # shadowed: kept verbatim, not used
        self._blocks = [block for block in blocks if block.text or block.separator]
        self.entries = {
            block.name: dataclasses.replace(block.original)
            for block in self._blocks
            if block.name is not None and block.original is not None
        }

    def dump(self) -> str:
        """The file contents for the current state."""
        out: list[str] = []
        for block in self._blocks:
            if block.name is None:
                out.append(block.text + block.separator)
                continue
            entry = self.entries.get(block.name)
            if entry is None:
                continue
            text = block.text if entry == block.original else _render(entry, block)
            out.append(text + block.separator)
        contents = "".join(out)
        placed = {block.name for block in self._blocks}
        for name, entry in self.entries.items():
            if name in placed:
                continue
            contents = _end_with_blank_line(contents) + entry.format()
        return contents

    def write(self) -> None:
        """Write the file atomically with mode ``0600`` (its directory ``0700`` if created).

        A symlinked file is replaced at its target.

        Raises:
            OSError: the file or its directory cannot be written.
        """
        target = Path(os.path.realpath(self.path))
        directory = target.parent
        _make_directory(directory)
        fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape", newline="") as file:
                file.write(self.dump())
                file.flush()
                os.fsync(file.fileno())
            os.chmod(temporary, 0o600)
            os.replace(temporary, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise


def _expand(path: str | os.PathLike[str] | None) -> Path:
    return Path(os.path.expanduser(path if path is not None else DEFAULT_CONFIG_PATH))


def _make_directory(directory: Path) -> None:
    if not directory.exists():
        directory.mkdir(mode=0o700, parents=True)
        directory.chmod(0o700)


#: One lock per config file (by real path) for the threads of this process.
_THREAD_LOCKS: dict[str, threading.Lock] = {}
_THREAD_LOCKS_GUARD = threading.Lock()
#: Lock files open (and ``flock``-ed) by this process's edits in progress.
_LOCK_FILES: set[int] = set()


def _renew_locks_in_child() -> None:
    """A forked child starts with unheld locks: a thread of the parent may have been
    editing. Its copies of the parent's lock files are closed, so the child's own edits
    wait for the parent's to end (the parent's descriptor keeps its lock), not for ever."""
    global _THREAD_LOCKS_GUARD
    _THREAD_LOCKS.clear()
    _THREAD_LOCKS_GUARD = threading.Lock()
    for fd in _LOCK_FILES:
        with contextlib.suppress(OSError):
            os.close(fd)
    _LOCK_FILES.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_renew_locks_in_child)


@contextlib.contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """Hold ``path``'s lock: this process's, then (on POSIX) ``flock`` on its lock file."""
    target = os.path.realpath(path)
    with _THREAD_LOCKS_GUARD:
        lock = _THREAD_LOCKS.setdefault(target, threading.Lock())
    with lock:
        if fcntl is None:  # Windows: threads only
            yield
            return
        directory, name = os.path.split(target)
        _make_directory(Path(directory))
        fd = os.open(os.path.join(directory, f".{name}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
        _LOCK_FILES.add(fd)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # released by the close below (or by exiting)
            yield
        finally:
            _LOCK_FILES.discard(fd)
            os.close(fd)


def _parse_block(text: str, separator: str) -> _Block:
    block = _Block(text=text, separator=separator)
    lines = text.strip("\r\n").splitlines()
    header = _HEADER.fullmatch(lines[0].strip()) if lines else None
    if header is None:
        return block
    fields: dict[str, str] = {}
    extra_lines: list[str] = []
    for line in lines[1:]:
        key, equals, value = line.partition("=")
        if not equals:
            return block
        fields[key] = value
        if key not in _KNOWN_KEYS and key not in _LEGACY_KEYS:
            extra_lines.append(line)
    is_legacy = "USERNAME" in fields or "PASSWORD" in fields
    if is_legacy and fields.get("IS_DOOVER2") != "True":
        return block
    name = header.group("name")
    values = {attribute: fields.get(key) for key, attribute in _KEYS if key != "TOKEN_EXPIRES"}
    block.name = name
    block.original = AuthProfile(
        profile=name,
        token_expires=_parse_expiry(fields.get("TOKEN_EXPIRES"), name),
        **values,
    )
    block.extra_lines = tuple(extra_lines)
    return block


def _parse_expiry(value: str | None, profile: str) -> datetime | None:
    """``TOKEN_EXPIRES`` as Unix seconds (pydoover) or ISO-8601 (doover-js)."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        if math.isfinite(seconds):
            return as_datetime(seconds)
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        logger.warning("ignoring the unreadable TOKEN_EXPIRES of profile %r", profile)
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _end_with_blank_line(contents: str) -> str:
    """``contents`` followed by a blank line, so that a block can be appended."""
    if not contents or _ENDS_WITH_BLANK_LINE.search(contents):
        return contents
    newline = "\r\n" if contents.endswith("\r\n") else "\n"
    return contents + (newline if contents.endswith("\n") else newline * 2)


def _render(entry: AuthProfile, block: _Block) -> str:
    """A changed profile, in the line endings of the block it replaces."""
    newline = "\r\n" if "\r\n" in block.text + block.separator else "\n"
    text = newline.join([*entry.format().splitlines(), *block.extra_lines])
    return text + newline if block.text.endswith("\n") else text
