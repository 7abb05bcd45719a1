"""Issue 37, the server's rules taken one by one: which addresses are loopback, which host names and
origins it serves, how failed logins are counted, which files count as uploads, what a message may
say. tests/test_security.py checks the same through the real server."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import qa
from ui.access import (
    FAILURE_WINDOW_S,
    LOCKOUT_S,
    MAX_FAILURES,
    Access,
    LoginThrottle,
    TooManyFailures,
    host_served,
    is_loopback,
    same_origin,
    served_names,
    split_host,
)
from ui.library import public_message, uploaded_here


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "LOCALHOST", "::1", "[::1]"])
def test_loopback_addresses(host: str) -> None:
    assert is_loopback(host) and not Access.for_host(host, env={}).remote


@pytest.mark.parametrize("host", ["localhost-nas.lan", "127.example.com", "::1.example.com", "0.0.0.0", "::", "192.168.1.5", "example.com"])
def test_addresses_that_only_look_like_loopback_are_remote(host: str) -> None:
    assert not is_loopback(host) and Access.for_host(host, env={}).remote


def test_public_on_loopback_is_remote() -> None:
    assert Access.for_host("127.0.0.1", env={}, public=True).remote


@pytest.mark.parametrize(
    ("header", "parsed"),
    [
        ("127.0.0.1:7860", ("127.0.0.1", 7860)),
        ("[::1]:7860", ("::1", 7860)),
        ("[::1]", ("::1", None)),
        ("News.Example.com", ("news.example.com", None)),
        ("", None),
        ("[::1", None),
        ("[::1]x", None),
        ("a.example:port", None),
        ("evil.example/x", None),
    ],
)
def test_host_headers_are_parsed_with_ipv6_in_brackets(header: str, parsed: tuple[str, int | None] | None) -> None:
    assert split_host(header) == parsed


def test_served_names_leave_out_a_wildcard_bind_and_take_qa_allowed_hosts() -> None:
    names = served_names("0.0.0.0", " news.example.com:443, *.example.org,, [fd00::5] ")
    assert set(names) == {"localhost", "127.0.0.1", "::1", "news.example.com", "*.example.org", "fd00::5"}
    assert "192.168.1.5" in served_names("192.168.1.5", "")
    assert host_served("a.example.org", names) and host_served("b.a.example.org", names)
    assert not host_served("example.org", names) and not host_served("evilexample.org", names)


@pytest.mark.parametrize(
    ("source", "host", "same"),
    [
        ("http://127.0.0.1:7860", "127.0.0.1:7860", True),
        ("http://127.0.0.1:7860/?tab=1", "127.0.0.1:7860", True),
        ("http://[::1]:7860", "[::1]:7860", True),
        ("https://news.example.com", "news.example.com", True),  # TLS ends at a reverse proxy
        ("https://news.example.com", "news.example.com:443", True),
        ("http://127.0.0.2:7860", "127.0.0.1:7860", False),
        ("http://127.0.0.1:7861", "127.0.0.1:7860", False),
        ("http://localhost:7860", "127.0.0.1:7860", False),
        ("null", "127.0.0.1:7860", False),
        ("file:///tmp/x.html", "127.0.0.1:7860", False),
        ("http://127.0.0.1:99999", "127.0.0.1:7860", False),
    ],
)
def test_same_origin_compares_name_and_port(source: str, host: str, same: bool) -> None:
    assert same_origin(source, host) is same


def test_ten_failures_lock_a_client_out_for_a_while_and_only_that_client() -> None:
    throttle = LoginThrottle()
    for n in range(MAX_FAILURES - 1):
        throttle.failed("10.0.0.1", now=float(n))
    throttle.check("10.0.0.1", now=10.0)
    throttle.failed("10.0.0.1", now=10.0)
    with pytest.raises(TooManyFailures) as refused:
        throttle.check("10.0.0.1", now=11.0)
    assert refused.value.retry_after == LOCKOUT_S - 1
    throttle.check("10.0.0.2", now=11.0)
    throttle.check("10.0.0.1", now=10.0 + LOCKOUT_S)


def test_failures_spread_beyond_the_window_do_not_lock_out() -> None:
    throttle = LoginThrottle()
    for n in range(3 * MAX_FAILURES):
        throttle.failed("10.0.0.1", now=n * FAILURE_WINDOW_S / (MAX_FAILURES - 1))
    throttle.check("10.0.0.1", now=3 * MAX_FAILURES * FAILURE_WINDOW_S)


def test_access_refuses_a_locked_out_client_even_with_the_right_password() -> None:
    access = Access(True, "editor", "s3cret")
    for n in range(MAX_FAILURES):
        assert not access.attempt("10.0.0.1", "editor", f"guess-{n}")
    with pytest.raises(TooManyFailures):
        access.attempt("10.0.0.1", "editor", "s3cret")
    assert access.attempt("10.0.0.2", "editor", "s3cret")


def test_only_files_inside_the_upload_folder_count_as_uploads(tmp_path: Path) -> None:
    folder = tmp_path / "uploads"
    (folder / "abc").mkdir(parents=True)
    (folder / "abc" / "x.txt").write_text("x", encoding="utf-8")
    (tmp_path / "secret.txt").write_text("s", encoding="utf-8")
    (folder / "abc" / "link.txt").symlink_to(tmp_path / "secret.txt")
    assert uploaded_here(str(folder / "abc" / "x.txt"), folder.resolve())
    assert not uploaded_here(str(tmp_path / "secret.txt"), folder.resolve())
    assert not uploaded_here(str(folder / ".." / "secret.txt"), folder.resolve())
    assert not uploaded_here(str(folder / "abc" / "link.txt"), folder.resolve())


def test_public_messages_name_no_server_folder_and_no_command(tmp_path: Path) -> None:
    settings = dataclasses.replace(qa.Settings.from_env(env={}), seeds_dir=tmp_path / "seeds", index_dir=tmp_path / "index")
    seeds, index = settings.seeds_dir, settings.index_dir
    assert public_message(f"no article x in {seeds} (see `qa list`); nothing was removed", settings) == "no article x in the collection; nothing was removed"
    assert public_message(f"{index} is a file, not an index folder: remove it or choose another --index", settings) == "the index folder is a file, not an index folder"
    message = public_message(f"could not write the index in {index}: No space left on device; the previous index is unchanged", settings)
    assert message == "could not write the index in the index folder: No space left on device; the previous index is unchanged"
