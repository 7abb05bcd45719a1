"""A request's host, origin, client address and credentials → whether the server answers it, and
whether it may write (add or remove articles, update the index).

Anyone on loopback may write; beyond it, only after a login, which gives the browser an HTTP-only
session cookie (programs may send HTTP Basic credentials instead). Failed logins are counted per
client address, and an address that fails too often is refused for a while, even with the right
password. The rules only: no web framework here; ui/server.py and ui/api.py apply them to requests.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import math
import os
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

SESSION_COOKIE = "qa_session"

# Failed logins a client address may make within FAILURE_WINDOW_S; then it is refused for
# LOCKOUT_S, even with the right password: a guesser gets about 10 tries per 20 minutes.
MAX_FAILURES = 10
FAILURE_WINDOW_S = 300.0
LOCKOUT_S = 900.0
THROTTLE_CLIENTS = 10_000  # addresses remembered at most: a flood of them cannot grow memory

# The names every server answers to, whatever it listens on; QA_ALLOWED_HOSTS adds others.
LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")
WILDCARD_ADDRESSES = ("", "0.0.0.0", "::")


def is_loopback(host: str) -> bool:
    """Whether an address to listen on is this machine only. Parsed, not compared by its start: a
    name such as "localhost-nas.lan" or "127.example.com" is another machine."""
    name = host.strip().lower().removeprefix("[").removesuffix("]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def client_address(scope: dict[str, Any]) -> str:
    """The client's address in an ASGI scope (behind a reverse proxy on this machine, the one it forwards)."""
    client = scope.get("client")
    return str(client[0]) if client else ""


class TooManyFailures(Exception):
    """A client that failed to log in too often; `retry_after` is in seconds."""

    def __init__(self, retry_after: int) -> None:
        minutes = max(1, math.ceil(retry_after / 60))
        super().__init__(f"too many failed logins from this address: try again in {minutes} minute(s)")
        self.retry_after = retry_after


@dataclass
class LoginThrottle:
    """Failed logins per client address, and the addresses refused for a while."""

    failures: dict[str, list[float]] = field(default_factory=dict)
    locked_until: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self, client: str, now: float | None = None) -> None:
        """Raise TooManyFailures while `client` is refused."""
        now = time.monotonic() if now is None else now
        with self.lock:
            until = self.locked_until.get(client, 0.0)
        if until > now:
            raise TooManyFailures(math.ceil(until - now))

    def failed(self, client: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self.lock:
            recent = [t for t in self.failures.get(client, []) if now - t < FAILURE_WINDOW_S] + [now]
            if len(recent) >= MAX_FAILURES:
                self.locked_until[client] = now + LOCKOUT_S
                recent = []
            self.failures[client] = recent
            if len(self.failures) + len(self.locked_until) > THROTTLE_CLIENTS:
                self._forget(now)

    def succeeded(self, client: str) -> None:
        with self.lock:
            self.failures.pop(client, None)

    def _forget(self, now: float) -> None:
        """Drop what no longer counts; if that is not enough, the oldest failures (call with the lock held)."""
        self.locked_until = {c: t for c, t in self.locked_until.items() if t > now}
        self.failures = {c: ts for c, ts in self.failures.items() if ts and now - ts[-1] < FAILURE_WINDOW_S}
        if len(self.failures) > THROTTLE_CLIENTS // 2:
            newest = sorted(self.failures.items(), key=lambda item: item[1][-1])[-THROTTLE_CLIENTS // 2 :]
            self.failures = dict(newest)


@dataclass
class Access:
    """Who may write (upload, rebuild): anyone on loopback; beyond it, only after a login.

    A login gives the browser an HTTP-only session cookie, which Gradio's own upload route and
    the JSON API's writes require; programs may send HTTP Basic credentials instead. Failed
    logins are counted per client address (`throttle`)."""

    remote: bool
    user: str
    password: str
    sessions: set[str] = field(default_factory=set)
    throttle: LoginThrottle = field(default_factory=LoginThrottle)

    @classmethod
    def for_host(cls, host: str, env: dict[str, str] | None = None, public: bool = False) -> Access:
        """`public`: reached beyond this machine (through a reverse proxy, say) although it listens
        on loopback, so writes need a login as beyond loopback."""
        env = os.environ if env is None else env
        return cls(public or not is_loopback(host), env.get("QA_ADMIN_USER", ""), env.get("QA_ADMIN_PASSWORD", ""))

    @property
    def login_possible(self) -> bool:
        return bool(self.user and self.password)

    def check(self, user: str, password: str) -> bool:
        if not self.login_possible:
            return False
        ok_user = hmac.compare_digest(user.encode(), self.user.encode())
        ok_pass = hmac.compare_digest(password.encode(), self.password.encode())
        return ok_user and ok_pass

    def attempt(self, client: str, user: str, password: str) -> bool:
        """Check credentials sent by `client`, counting its failures; raises TooManyFailures while
        it is refused, whatever it sends."""
        self.throttle.check(client)
        if self.check(user, password):
            self.throttle.succeeded(client)
            return True
        self.throttle.failed(client)
        return False

    def may_write(self, logged_in: bool) -> bool:
        return not self.remote or (self.login_possible and logged_in)

    def new_session(self) -> str:
        if len(self.sessions) > 10_000:  # bounded: a flood of logins cannot grow memory
            self.sessions.clear()
        token = secrets.token_urlsafe(32)
        self.sessions.add(token)
        return token

    def has_session(self, cookies: dict[str, str]) -> bool:
        token = cookies.get(SESSION_COOKIE, "")
        return bool(token) and any(hmac.compare_digest(token, t) for t in list(self.sessions))

    def request_may_write(self, cookies: dict[str, str], authorization: str = "", client: str = "") -> bool:
        """Whether an HTTP request may write: on loopback always; beyond it with a session cookie
        from a login, or with HTTP Basic credentials (raises TooManyFailures for a client that
        failed too often)."""
        if not self.remote:
            return True
        if not self.login_possible:
            return False
        return self.has_session(cookies) or self._basic_ok(authorization, client)

    def _basic_ok(self, authorization: str, client: str) -> bool:
        scheme, _, encoded = authorization.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return self.attempt(client, user, password)

    def notice(self) -> str:
        if not self.remote:
            return "Served on loopback: adding articles and updating the index need no login."
        if not self.login_possible:
            return (
                "**Upload and rebuild are disabled**: this server is open beyond loopback and no "
                "credentials are set (QA_ADMIN_USER and QA_ADMIN_PASSWORD)."
            )
        return "Log in to add articles or update the index."


def split_host(value: str) -> tuple[str, int | None] | None:
    """A Host header's name and port: "[::1]:7860" → ("::1", 7860), "News.example.com" →
    ("news.example.com", None); None when it is malformed."""
    value = value.strip().lower()
    if value.startswith("["):
        name, close, port = value[1:].partition("]")
        if not close or (port and not port.startswith(":")):
            return None
        port = port[1:]
    elif value.count(":") > 1:  # an IPv6 address without brackets, hence without a port
        name, port = value, ""
    else:
        name, _, port = value.partition(":")
    if not re.fullmatch(r"[a-z0-9_.:-]+", name) or (port and not (port.isascii() and port.isdigit() and len(port) <= 5)):
        return None
    return name, int(port) if port else None


def served_names(bind: str, allowed: str) -> tuple[str, ...]:
    """The host names the server answers to: loopback's, its bind address unless that is a wildcard
    (which says nothing of the names clients use), and those of `allowed` (QA_ALLOWED_HOSTS:
    comma-separated, ports ignored, "*.example.com" for any name under example.com)."""
    entries = [*LOCAL_NAMES, *allowed.split(",")]
    if bind.strip().strip("[]") not in WILDCARD_ADDRESSES:
        entries.append(bind)
    names = []
    for entry in (e.strip() for e in entries):
        parsed = split_host(entry.removeprefix("*.")) if entry else None
        if parsed is not None:
            names.append(("*." if entry.startswith("*.") else "") + parsed[0])
    return tuple(dict.fromkeys(names))


def host_served(name: str, names: tuple[str, ...]) -> bool:
    return any(name == n or (n.startswith("*.") and name.endswith(n[1:])) for n in names)


def same_origin(source: str, host: str) -> bool:
    """Whether an Origin (or Referer) names the site the request is addressed to, its Host: then it
    comes from one of this server's own pages. Ports compare with the scheme's default filled in."""
    try:
        url = urlsplit(source.strip())
        port = url.port
    except ValueError:
        return False
    target = split_host(host)
    if url.scheme not in ("http", "https") or not url.hostname or target is None:
        return False
    default = 443 if url.scheme == "https" else 80
    return url.hostname == target[0] and (port or default) == (target[1] or default)
