"""No piece of a database URL's password is ever shown: every command that takes --store, with
passwords holding each character a URL parser cuts at, unescaped."""

from __future__ import annotations

from pathlib import Path

import pytest
from _cli import cli

from mer_bench.core.redact import MASK, redact, scrub, secrets_of

#: Characters a URL parser reads as delimiters (and a space), each inside a password.
CUTS = ("@", ":", "/", "?", "#", "%", "+", " ")
#: Pieces of every test password that must never appear (3+ characters each).
PIECES = ("Secret7", "Fragment9")
SHIPPED = Path(__file__).parent.parent / "results" / "megc2019-flows"


def url_with(cut: str) -> str:
    # port 1 on loopback: refused at once, or the URL does not even parse
    return f"postgresql://mer:{PIECES[0]}{cut}{PIECES[1]}@127.0.0.1:1/results"


def _commands(tmp_path: Path) -> list[list[str]]:
    result = tmp_path / "result.json"
    result.write_text("{}")
    return [
        ["results"],
        ["show", "x"],
        ["export", "x"],
        ["table", "--protocol", "megc2019", "--no-reference"],
        ["leaderboard"],
        ["run", "--model", "ststnet", "--epochs", "1"],
        ["import", str(result)],
        ["reproduce", str(result), "--data-root", str(tmp_path)],
        ["train", "--model", "ststnet", "--epochs", "1"],
        ["predict", "--run", "x"],
    ]


@pytest.mark.parametrize("cut", CUTS, ids=[repr(c) for c in CUTS])
def test_no_command_shows_any_piece_of_the_password(cut, tmp_path, capsys, monkeypatch):
    url = url_with(cut)
    for argv in _commands(tmp_path):
        code, out, err = cli([*argv, "--store", url], capsys)
        shown = out + err
        assert code != 0, (argv, shown)
        for piece in PIECES:
            assert piece not in shown, (argv, cut, shown)
        # the same through $MER_BENCH_STORE
        monkeypatch.setenv("MER_BENCH_STORE", url)
        code, out, err = cli(argv, capsys)
        monkeypatch.delenv("MER_BENCH_STORE")
        assert code != 0 and not any(p in out + err for p in PIECES), (argv, cut, out + err)


@pytest.mark.parametrize("cut", CUTS, ids=[repr(c) for c in CUTS])
def test_scrub_hides_the_password_its_pieces_and_encodings(cut):
    url = url_with(cut)
    password = f"{PIECES[0]}{cut}{PIECES[1]}"
    assert redact(url) == f"postgresql://mer:{MASK}@127.0.0.1:1/results"
    from urllib.parse import quote

    message = (
        f"could not parse {url}; host {PIECES[1]}@127.0.0.1, database {PIECES[0]}, "
        f"encoded {quote(password, safe='')}"
    )
    cleaned = scrub(message, [url])
    assert not any(p in cleaned for p in PIECES) and quote(password, safe="") not in cleaned
    assert set(PIECES) <= set(secrets_of(url))
    # a password given as a parameter, and a URL without one
    assert (
        redact("postgresql://h/db?sslmode=require&password=pw1")
        == f"postgresql://h/db?sslmode=require&password={MASK}"
    )
    assert (
        scrub("postgresql://u@h/db is down", ["postgresql://u@h/db"])
        == "postgresql://u@h/db is down"
    )


def test_a_short_piece_read_as_the_host_is_hidden_too(tmp_path, capsys):
    """'qz' is too short to hide everywhere, but the parser reads 'qz@127.0.0.1' as the host and
    the driver quotes it: that whole host is hidden."""
    url = "postgresql://mer:Secret7@qz@127.0.0.1:1/results"
    code, out, err = cli(["results", "--store", url], capsys)
    assert code != 0 and "qz@" not in out + err and "Secret7" not in out + err
    assert "results database" in err  # the real database name is not masked
