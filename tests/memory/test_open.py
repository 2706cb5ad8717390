"""Which store a location setting opens."""

from __future__ import annotations

from pathlib import Path

import pytest

from memory import ChromaRunStore, InMemoryRunStore, RunStore, open_store
from schemas import StoreError


@pytest.mark.parametrize("location", [None, "", "  "])
def test_no_location_is_the_embedded_store_in_home(tmp_path: Path, location: str | None) -> None:
    store = open_store(location, home=tmp_path)
    assert isinstance(store, ChromaRunStore) and store.location == str(tmp_path / "memory")
    assert not (tmp_path / "memory").exists()  # nothing opened yet


def test_memory_colon_is_a_fresh_in_memory_store(tmp_path: Path) -> None:
    first, second = open_store("memory:", home=tmp_path), open_store("memory:", home=tmp_path)
    assert isinstance(first, InMemoryRunStore) and first is not second


@pytest.mark.parametrize(("url", "expected"), [
    ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
    ("HTTP://chroma.example:9000/", "http://chroma.example:9000"),
    ("https://chroma.example", "https://chroma.example:443"),
    ("http://chroma.example", "http://chroma.example:8000"),
])
def test_a_url_is_a_server_store(tmp_path: Path, url: str, expected: str) -> None:
    store = open_store(url, home=tmp_path)
    assert isinstance(store, ChromaRunStore) and store.location == expected


@pytest.mark.parametrize("location", ["http://", "https://:80", "http://h:x", "ftp://h/x",
                                      "http://user:pw@h:8000"])
def test_an_invalid_url_is_a_store_error(tmp_path: Path, location: str) -> None:
    with pytest.raises(StoreError):
        open_store(location, home=tmp_path)


def test_anything_else_is_an_embedded_folder(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "team-memory"), home=tmp_path / "home")
    assert isinstance(store, ChromaRunStore)
    assert store.location == str(tmp_path / "team-memory")
    assert isinstance(store, RunStore)
