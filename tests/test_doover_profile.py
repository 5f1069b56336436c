"""The ``~/.doover/config`` profile file: parsing, verbatim preservation, atomic writes."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import anyio
import pytest
from doover_auth_helpers import NOW, FakeClock, TokenServer, make_jwt
from fork_support import exit_code_in_fork

from pydoover_anyio.auth import AuthProfile, ConfigManager, RefreshTokenAuth

DEFAULT_BLOCK = """\
[profile=default]
TOKEN=eyJhbGciOiJSUzI1NiJ9.eyJleHAiOjE3NzM1ODE2OTZ9.c2ln
TOKEN_EXPIRES=1773581696.0
AGENT_ID=204101873322459136
BASE_URL=https://api.doover.com
REFRESH_TOKEN=rt_9c1e5f
REFRESH_TOKEN_ID=5b8d2e40-77aa-4c1b-9e0f-1d2c3b4a5f60
BASE_DATA_URL=https://data.doover.com/api
AUTH_SERVER_URL=https://auth.doover.com
AUTH_SERVER_CLIENT_ID=3f0c9a1e-0000-4000-8000-abcdefabcdef
"""

#: A file with everything the parser must leave alone: a comment block, a Doover 1
#: legacy block, a block with a line lacking "=", CRLF line endings, runs of blank
#: lines, an empty-valued profile, and no newline at the very end.
AWKWARD = (
    "# managed by hand\n# do not touch\n\n"
    + DEFAULT_BLOCK
    + "\n\n\n"
    + "[profile=old]\r\nUSERNAME=alice\r\nPASSWORD=hunter2\r\n\r\n"
    + "[profile=notes]\nTOKEN=abc\nthis line has no equals sign\n\n"
    + "[profile=staging]\nTOKEN=\nTOKEN_EXPIRES=\nBASE_DATA_URL=https://data.staging.test/api"
)


def manager_for(tmp_path: Path, contents: str | bytes) -> ConfigManager:
    path = tmp_path / "config"
    if isinstance(contents, bytes):
        path.write_bytes(contents)
    else:
        path.write_bytes(contents.encode())
    return ConfigManager(path=path)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- reading --------------------------------------------------------------------------


def test_reads_the_documented_format(tmp_path: Path) -> None:
    manager = manager_for(tmp_path, DEFAULT_BLOCK)
    profile = manager.get("default")
    assert profile is not None
    assert profile.token == "eyJhbGciOiJSUzI1NiJ9.eyJleHAiOjE3NzM1ODE2OTZ9.c2ln"
    assert profile.token_expires == datetime.fromtimestamp(1773581696, UTC)
    assert profile.agent_id == "204101873322459136"
    assert profile.control_base_url == profile.base_url == "https://api.doover.com"
    assert profile.data_base_url == profile.base_data_url == "https://data.doover.com/api"
    assert profile.refresh_token == "rt_9c1e5f"
    assert profile.refresh_token_id == "5b8d2e40-77aa-4c1b-9e0f-1d2c3b4a5f60"
    assert profile.auth_server_url == "https://auth.doover.com"
    assert profile.auth_server_client_id == "3f0c9a1e-0000-4000-8000-abcdefabcdef"


def test_only_well_formed_profiles_are_usable(tmp_path: Path) -> None:
    manager = manager_for(tmp_path, AWKWARD)
    assert sorted(manager.entries) == ["default", "staging"]
    staging = manager.get("staging")
    assert staging == AuthProfile("staging", data_base_url="https://data.staging.test/api")


def test_a_missing_file_reads_as_empty(tmp_path: Path) -> None:
    manager = ConfigManager("default", path=tmp_path / "nowhere" / "config")
    assert manager.entries == {}
    assert manager.current is None
    assert manager.dump() == ""


def test_default_path_is_in_the_home_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".doover").mkdir()
    (tmp_path / ".doover" / "config").write_text(DEFAULT_BLOCK)
    manager = ConfigManager("default")
    assert manager.path == tmp_path / ".doover" / "config"
    assert manager.current is not None
    assert manager.current.profile == "default"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-03-15T12:34:56.789Z", datetime(2026, 3, 15, 12, 34, 56, 789000, UTC)),
        ("2026-03-15T14:34:56+02:00", datetime(2026, 3, 15, 12, 34, 56, tzinfo=UTC)),
        ("2026-03-15T12:34:56", datetime(2026, 3, 15, 12, 34, 56, tzinfo=UTC)),
        ("1773581696", datetime.fromtimestamp(1773581696, UTC)),
    ],
)
def test_token_expires_in_epoch_seconds_or_iso_8601(
    tmp_path: Path, raw: str, expected: datetime
) -> None:
    manager = manager_for(tmp_path, f"[profile=js]\nTOKEN=t\nTOKEN_EXPIRES={raw}\n")
    profile = manager.get("js")
    assert profile is not None
    assert profile.token_expires == expected


@pytest.mark.parametrize("raw", ["next tuesday", "nan", "1e400"])
def test_unreadable_token_expires_is_unknown_not_fatal(
    tmp_path: Path, raw: str, caplog: pytest.LogCaptureFixture
) -> None:
    contents = f"[profile=a]\nTOKEN=t\nTOKEN_EXPIRES={raw}\n\n[profile=b]\nTOKEN=u\n"
    manager = manager_for(tmp_path, contents)
    profile = manager.get("a")
    assert profile is not None
    assert profile.token_expires is None
    assert manager.get("b") is not None
    assert "TOKEN_EXPIRES" in caplog.text
    assert manager.dump() == contents


def test_legacy_doover2_block_is_usable_and_rewritten_without_legacy_keys(tmp_path: Path) -> None:
    contents = (
        "[profile=legacy2]\nUSERNAME=bob\nPASSWORD=pw\nIS_DOOVER2=True\nTOKEN=t1\nCUSTOM_KEY=kept\n"
    )
    manager = manager_for(tmp_path, contents)
    profile = manager.get("legacy2")
    assert profile is not None
    assert profile.token == "t1"
    assert manager.dump() == contents  # untouched until changed
    profile.token = "t2"
    assert manager.dump() == AuthProfile("legacy2", token="t2").format() + "CUSTOM_KEY=kept\n"


def test_duplicate_names_the_last_block_wins_and_the_first_stays_verbatim(tmp_path: Path) -> None:
    contents = "[profile=x]\nTOKEN=first\n\n[profile=x]\nTOKEN=second\n"
    manager = manager_for(tmp_path, contents)
    entry = manager.get("x")
    assert entry is not None
    assert entry.token == "second"
    entry.token = "third"
    assert (
        manager.dump() == "[profile=x]\nTOKEN=first\n\n" + AuthProfile("x", token="third").format()
    )


# --- writing --------------------------------------------------------------------------


def test_unchanged_file_round_trips_byte_for_byte(tmp_path: Path) -> None:
    raw = AWKWARD.encode() + b"\n\n[profile=latin]\nAGENT_ID=caf\xe9\n"  # not UTF-8
    manager = manager_for(tmp_path, raw)
    manager.write()
    assert (tmp_path / "config").read_bytes() == raw


def test_a_changed_profile_is_rewritten_and_everything_else_kept(tmp_path: Path) -> None:
    manager = manager_for(tmp_path, AWKWARD)
    staging = manager.get("staging")
    assert staging is not None
    staging.token = "new-token"
    staging.token_expires = datetime.fromtimestamp(1767225600.5, UTC)
    manager.write()
    rewritten_staging = (
        "[profile=staging]\nTOKEN=new-token\nTOKEN_EXPIRES=1767225600.5\nAGENT_ID=\nBASE_URL=\n"
        "REFRESH_TOKEN=\nREFRESH_TOKEN_ID=\nBASE_DATA_URL=https://data.staging.test/api\n"
        "AUTH_SERVER_URL=\nAUTH_SERVER_CLIENT_ID="
    )  # no final newline: the original block had none either
    expected = AWKWARD[: AWKWARD.index("[profile=staging]")] + rewritten_staging
    assert (tmp_path / "config").read_bytes().decode() == expected


def test_iso_token_expires_is_written_back_as_epoch_seconds(tmp_path: Path) -> None:
    manager = manager_for(
        tmp_path, "[profile=js]\nTOKEN=t\nTOKEN_EXPIRES=2026-01-01T00:00:00.000Z\n"
    )
    profile = manager.get("js")
    assert profile is not None
    profile.token = "t2"
    assert "TOKEN_EXPIRES=1767225600.0\n" in manager.dump()


def test_crlf_profiles_are_rewritten_with_crlf(tmp_path: Path) -> None:
    manager = manager_for(tmp_path, "[profile=w]\r\nTOKEN=a\r\n\r\n[profile=z]\r\nTOKEN=b\r\n")
    profile = manager.get("w")
    assert profile is not None
    profile.token = "c"
    dumped = manager.dump()
    assert dumped.startswith("[profile=w]\r\nTOKEN=c\r\nTOKEN_EXPIRES=\r\n")
    assert dumped.endswith("AUTH_SERVER_CLIENT_ID=\r\n\r\n[profile=z]\r\nTOKEN=b\r\n")
    assert "\n" not in dumped.replace("\r\n", "")


@pytest.mark.parametrize(
    ("existing", "joint"),
    [("", ""), ("# note\n", "# note\n\n"), ("# note", "# note\n\n"), ("# note\n\n", "# note\n\n")],
)
def test_new_profiles_are_appended_after_a_blank_line(
    tmp_path: Path, existing: str, joint: str
) -> None:
    manager = manager_for(tmp_path, existing)
    new = AuthProfile("fresh", token="t", token_expires=datetime(2026, 1, 1, tzinfo=UTC))
    manager.create(new)
    assert manager.dump() == joint + new.format()
    assert new.format().startswith("[profile=fresh]\nTOKEN=t\nTOKEN_EXPIRES=1767225600.0\n")


def test_create_replaces_in_place_and_delete_removes(tmp_path: Path) -> None:
    manager = manager_for(tmp_path, "[profile=a]\nTOKEN=1\n\n[profile=b]\nTOKEN=2\n\n# tail\n")
    manager.create(AuthProfile("a", token="9"))
    manager.delete("b")
    manager.delete("missing")
    assert manager.dump() == AuthProfile("a", token="9").format().rstrip("\n") + "\n\n# tail\n"


def test_write_is_atomic_with_private_permissions(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text(DEFAULT_BLOCK)
    path.chmod(0o644)
    manager = ConfigManager(path=path)
    manager.create(AuthProfile("second", token="t"))
    manager.write()
    assert mode_of(path) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config"]  # no temporary left
    assert path.read_text() == DEFAULT_BLOCK + "\n" + AuthProfile("second", token="t").format()


def test_write_creates_a_private_directory(tmp_path: Path) -> None:
    path = tmp_path / "home" / ".doover" / "config"
    manager = ConfigManager(path=path)
    manager.create(AuthProfile("p", token="t"))
    manager.write()
    assert mode_of(path.parent) == 0o700
    assert mode_of(path) == 0o600
    assert ConfigManager(path=path).get("p") == AuthProfile("p", token="t")


def test_a_failed_write_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "config"
    path.write_text(DEFAULT_BLOCK)
    manager = ConfigManager(path=path)
    manager.create(AuthProfile("other"))

    def refuse(src: str, dst: str) -> None:
        raise PermissionError(13, "refused", dst)

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(PermissionError):
        manager.write()
    assert path.read_text() == DEFAULT_BLOCK
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config"]


def _add_profile(path: Path, name: str) -> None:
    with ConfigManager.editing(path=path) as manager:
        manager.create(AuthProfile(name, token=f"token-{name}"))
        manager.write()


def test_an_edit_waits_for_another_threads_edit(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text(DEFAULT_BLOCK)
    with ConfigManager.editing(path=path) as manager:
        other = threading.Thread(target=_add_profile, args=(path, "other"))
        other.start()
        time.sleep(0.3)  # without the lock, the other edit would read and write now
        manager.create(AuthProfile("mine", token="token-mine"))
        manager.write()
    other.join(10)
    assert sorted(ConfigManager(path=path).entries) == ["default", "mine", "other"]


def test_an_edit_waits_for_another_processs_edit(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text(DEFAULT_BLOCK)
    script = (
        "import sys; from pydoover_anyio.auth import AuthProfile, ConfigManager\n"
        "with ConfigManager.editing(path=sys.argv[1]) as m:\n"
        "    m.create(AuthProfile('other')); m.write()\n"
    )
    with ConfigManager.editing(path=path) as manager:
        other = subprocess.Popen([sys.executable, "-c", script, str(path)])
        time.sleep(1.0)  # the other process starts and blocks on the lock file meanwhile
        manager.create(AuthProfile("mine"))
        manager.write()
    assert other.wait(30) == 0
    assert sorted(ConfigManager(path=path).entries) == ["default", "mine", "other"]
    assert mode_of(tmp_path / ".config.lock") == 0o600


def test_a_forked_child_edits_once_the_parents_edit_in_progress_ends(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text(DEFAULT_BLOCK)
    locked, release = threading.Event(), threading.Event()

    def parent_edit() -> None:
        with ConfigManager.editing(path=path) as manager:
            locked.set()
            release.wait()
            manager.create(AuthProfile("parent"))
            manager.write()

    editor = threading.Thread(target=parent_edit)
    editor.start()
    locked.wait()
    threading.Timer(0.5, release.set).start()  # while the child waits for the file

    def child() -> int:
        _add_profile(path, "child")
        return 0

    assert exit_code_in_fork(child) == 0  # it used to wait for ever on the copied locks
    editor.join()
    assert sorted(ConfigManager(path=path).entries) == ["child", "default", "parent"]


@pytest.mark.anyio
async def test_concurrent_write_backs_of_two_profiles_keep_both_tokens(tmp_path: Path) -> None:
    path = tmp_path / "config"
    blocks = [
        AuthProfile(name, refresh_token=f"rt-{name}", auth_server_client_id="cid").format()
        for name in ("a", "b")
    ]
    for trial in range(10):
        path.write_text("\n".join(blocks))
        servers = [TokenServer().reply_json(access_token=f"fresh-{n}-{trial}") for n in "ab"]
        auths = [
            RefreshTokenAuth.from_profile(n, config_path=path, http_client=server.client())
            for n, server in zip("ab", servers, strict=True)
        ]
        async with anyio.create_task_group() as group:
            for auth in auths:
                group.start_soon(auth.refresh_access_token)
        saved = ConfigManager(path=path)
        assert [saved.entries[n].token for n in "ab"] == [f"fresh-a-{trial}", f"fresh-b-{trial}"]


def test_a_symlinked_file_is_replaced_at_its_target(tmp_path: Path) -> None:
    target = tmp_path / "dotfiles" / "doover-config"
    target.parent.mkdir()
    target.write_text(DEFAULT_BLOCK)
    link = tmp_path / "config"
    link.symlink_to(target)
    manager = ConfigManager(path=link)
    manager.create(AuthProfile("added"))
    manager.write()
    assert link.is_symlink()
    assert "[profile=added]" in target.read_text()


# --- AuthProfile ----------------------------------------------------------------------


def test_auth_profile_normalises_empty_values_and_expiry() -> None:
    profile = AuthProfile("p", token="", agent_id="", token_expires=1767225600)  # type: ignore[arg-type]
    assert profile.token is None
    assert profile.agent_id is None
    assert profile.token_expires == datetime(2026, 1, 1, tzinfo=UTC)
    assert AuthProfile("p", token_expires=datetime(2026, 1, 1)).token_expires == datetime(
        2026, 1, 1, tzinfo=UTC
    )
    profile.base_url = "https://api.example.test"
    profile.base_data_url = ""
    assert (profile.control_base_url, profile.data_base_url) == ("https://api.example.test", None)


def test_auth_profile_format_has_the_nine_keys_in_order() -> None:
    assert AuthProfile("only-name").format() == (
        "[profile=only-name]\nTOKEN=\nTOKEN_EXPIRES=\nAGENT_ID=\nBASE_URL=\nREFRESH_TOKEN=\n"
        "REFRESH_TOKEN_ID=\nBASE_DATA_URL=\nAUTH_SERVER_URL=\nAUTH_SERVER_CLIENT_ID=\n"
    )


def test_auth_profile_repr_hides_tokens() -> None:
    text = repr(AuthProfile("p", token="access-secret", refresh_token="refresh-secret"))
    assert "access-secret" not in text
    assert "refresh-secret" not in text
    assert "token='<set>'" in text
    assert "profile='p'" in text


def test_warning_records_carry_no_token(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    manager_for(tmp_path, "[profile=a]\nTOKEN=secret-token\nTOKEN_EXPIRES=garbage\n")
    assert "secret-token" not in caplog.text


# --- write-back after a refresh -------------------------------------------------------

OTHER_BLOCKS = "# keep me\n\n[profile=old]\nUSERNAME=alice\nPASSWORD=pw\n\n"


def profile_file(tmp_path: Path, token: str) -> Path:
    path = tmp_path / "config"
    block = AuthProfile(
        "default",
        token=token,
        agent_id="42",
        refresh_token="rt-1",
        refresh_token_id="rid",
        auth_server_url="https://auth.example.test",
        auth_server_client_id="cid",
        data_base_url="https://data.example.test/api",
    ).format()
    path.write_text(OTHER_BLOCKS + block + "\n[profile=z]\nTOKEN=zz\n")
    path.chmod(0o644)
    return path


@pytest.mark.anyio
async def test_refreshed_tokens_are_written_back_to_a_named_profile(tmp_path: Path) -> None:
    path = profile_file(tmp_path, make_jwt(NOW - 5))
    server = TokenServer().reply_json(access_token="fresh", expires_in=600, refresh_token="rt-2")
    auth = RefreshTokenAuth.from_profile(
        "default", config_path=path, http_client=server.client(), clock=FakeClock()
    )
    assert (auth.data_base_url, auth.auth_server_url) == (
        "https://data.example.test/api",
        "https://auth.example.test",
    )
    await auth.ensure_token()

    assert dict(server.requests[0].url.params)["refresh_token"] == "rt-1"
    text = path.read_text()
    assert text.startswith(OTHER_BLOCKS)
    assert text.endswith("\n[profile=z]\nTOKEN=zz\n")
    saved = ConfigManager(path=path).get("default")
    assert saved == AuthProfile(
        "default",
        token="fresh",
        token_expires=datetime.fromtimestamp(NOW + 600, UTC),
        agent_id="42",
        refresh_token="rt-2",
        refresh_token_id="rid",
        auth_server_url="https://auth.example.test",
        auth_server_client_id="cid",
        data_base_url="https://data.example.test/api",
    )
    assert "TOKEN_EXPIRES=1767226200.0\n" in text
    assert mode_of(path) == 0o600


@pytest.mark.anyio
async def test_write_back_keeps_changes_other_programs_made_meanwhile(tmp_path: Path) -> None:
    path = profile_file(tmp_path, "")
    server = TokenServer().reply_json(access_token="fresh")
    auth = RefreshTokenAuth.from_profile("default", config_path=path, http_client=server.client())
    with path.open("a") as file:
        file.write("\n[profile=added-later]\nTOKEN=x\n")
    await auth.ensure_token()
    manager = ConfigManager(path=path)
    assert sorted(manager.entries) == ["added-later", "default", "z"]


@pytest.mark.anyio
async def test_persist_false_leaves_the_file_alone(tmp_path: Path) -> None:
    path = profile_file(tmp_path, "")
    before = path.read_bytes()
    server = TokenServer().reply_json(access_token="fresh")
    auth = RefreshTokenAuth.from_profile(
        "default", config_path=path, persist=False, http_client=server.client()
    )
    await auth.ensure_token()
    assert auth.token == "fresh"
    assert path.read_bytes() == before


@pytest.mark.anyio
async def test_a_profile_object_is_persisted_only_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "new-dir" / "config"
    server = TokenServer().reply_json(access_token="fresh")
    profile = AuthProfile("mem", refresh_token="rt", auth_server_client_id="cid")
    quiet = RefreshTokenAuth.from_profile(profile, config_path=path, http_client=server.client())
    await quiet.ensure_token()
    assert not path.exists()

    loud = RefreshTokenAuth.from_profile(
        profile, config_path=path, persist=True, http_client=server.client()
    )
    await loud.ensure_token()
    saved = ConfigManager(path=path).get("mem")
    assert saved is not None
    assert (saved.token, saved.refresh_token) == ("fresh", "rt")
    assert mode_of(path.parent) == 0o700


@pytest.mark.anyio
async def test_a_failed_write_back_does_not_fail_the_refresh(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = profile_file(tmp_path, "")
    server = TokenServer().reply_json(access_token="fresh-secret", refresh_token="rt-new-secret")
    auth = RefreshTokenAuth.from_profile("default", config_path=path, http_client=server.client())
    path.unlink()
    path.mkdir()  # the file became a directory: reading it fails
    await auth.ensure_token()
    assert auth.token == "fresh-secret"
    assert "could not save the refreshed token" in caplog.text
    assert "secret" not in caplog.text


def test_unknown_profile_name_is_a_runtime_error(tmp_path: Path) -> None:
    path = profile_file(tmp_path, "")
    with pytest.raises(RuntimeError, match=r"^No configuration found for profile nope\.$"):
        RefreshTokenAuth.from_profile("nope", config_path=path)
    with pytest.raises(TypeError, match="profile"):
        RefreshTokenAuth.from_profile(7, config_path=path)  # type: ignore[arg-type]
