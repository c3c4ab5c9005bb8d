"""Database URLs as they may be shown: one place that hides their passwords.

Every message that can carry a results database's location goes through here: `redact` for the
location itself, `scrub` for any text (a parser's or a driver's message) that may quote the URL
or pieces of it. A password may hold any of `@ : / ? # % +` and spaces, unescaped: parsers then
cut it at those characters and quote the pieces (as a host, a port, a database name), so `scrub`
hides every piece too, not only the whole password. Imports nothing of mer-bench.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import quote, unquote

MASK = "***"
#: A password given as a URL parameter (libpq reads `password` and `sslpassword`).
_PASSWORD_PARAMETER = re.compile(r"((?:[?&])(?:ssl)?password=)[^&#]*", re.IGNORECASE)
#: Where a parser may cut an unescaped password.
_CUTS = re.compile(r"[@:/?#%+&=\s]+")
#: Pieces shorter than this are not hidden on their own (they would mangle every word).
MIN_PIECE = 3


def is_url(location: str | Path) -> bool:
    return "://" in str(location)


def redact(location: str | Path) -> str:
    """The location as it may be shown: a URL's password (in its user part, even with unescaped
    `@`, `/`, `:`, `?`, `#` in it, or as a `password=` parameter) replaced by ***."""
    location = str(location)
    if not is_url(location):
        return location
    scheme, rest = location.split("://", 1)
    if "@" in rest:
        userinfo, host = rest.rsplit("@", 1)
        user, has_password, _ = userinfo.partition(":")
        rest = f"{user}:{MASK}@{host}" if has_password else f"{user}@{host}"
    return f"{scheme}://" + _PASSWORD_PARAMETER.sub(rf"\g<1>{MASK}", rest)


def secrets_of(location: str | Path) -> list[str]:
    """Everything of a URL that must never be shown, longest first: its password as written,
    percent-decoded and percent-encoded, and every piece a parser could cut it into."""
    location = str(location)
    if not is_url(location):
        return []
    rest = location.split("://", 1)[1]
    passwords = set()
    if "@" in rest:
        userinfo = rest.rsplit("@", 1)[0]
        if ":" in userinfo:
            passwords.add(userinfo.partition(":")[2])
    passwords |= {m.group(0).split("=", 1)[1] for m in _PASSWORD_PARAMETER.finditer(rest)}
    found = set()
    for password in passwords:
        for form in (password, unquote(password), quote(password, safe="")):
            found.add(form)
            found |= set(_CUTS.split(form))
    found = {s for s in found if len(s) >= MIN_PIECE}
    # A parser that cut the password early reads the rest of it as the host, port or database,
    # and a driver quotes those whole: hide each part that differs from the URL's real one.
    if passwords and "@" in rest:
        address, _, tail = rest.rsplit("@", 1)[1].partition("/")
        real = {address, address.rsplit(":", 1)[0], tail.split("?", 1)[0], ""}
        found |= {part for part in _parsed_parts(location) if part not in real}
    return sorted(found, key=len, reverse=True)


def _parsed_parts(location: str) -> list[str]:
    """Host, port and database as SQLAlchemy reads the URL (nothing if it cannot)."""
    try:
        from sqlalchemy.engine import make_url

        url = make_url(location)
        host = url.host or ""
        return [host, f"{host}:{url.port}" if url.port else "", url.database or ""]
    except Exception:  # any parser failure: nothing parsed, nothing to hide
        return []


def scrub(text: str, locations: Iterable[str | Path | None]) -> str:
    """`text` with every secret of every location replaced by ***, and the locations redacted."""
    for location in locations:
        if not location or not is_url(location):
            continue
        text = text.replace(str(location), redact(location))
        for secret in secrets_of(location):
            text = text.replace(secret, MASK)
    return text


def locations_in(argv: Iterable[str], environ: dict[str, str] | None = None) -> list[str]:
    """Database locations a command line may carry: `--store X`, `--store=X`, $MER_BENCH_STORE."""
    argv = list(argv)
    found = [a.split("=", 1)[1] for a in argv if a.startswith("--store=")]
    found += [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "--store"]
    env = (os.environ if environ is None else environ).get("MER_BENCH_STORE")
    return found + ([env] if env else [])
