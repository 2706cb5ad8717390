"""``open_store``: the store a location setting names."""

from __future__ import annotations

from pathlib import Path

from memory._chroma import ChromaRunStore
from memory._inmemory import InMemoryRunStore
from memory._store import RunStore
from schemas import StoreError

IN_MEMORY = "memory:"


def open_store(location: str | None, *, home: Path) -> RunStore:
    """The store at ``location``; nothing is opened until the store is first used.

    ``None`` or ``""``: the embedded store in ``home / "memory"``; ``http://...`` or
    ``https://...``: a ``chroma run`` server; ``"memory:"``: a fresh in-memory store;
    anything else: an embedded store in that folder.
    """
    text = (location or "").strip()
    if not text:
        return ChromaRunStore.embedded(Path(home) / "memory")
    if text == IN_MEMORY:
        return InMemoryRunStore()
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if scheme in ("http", "https"):
        return ChromaRunStore.http(text)
    if scheme:
        raise StoreError("The memory location must be a folder, 'memory:' or an http(s):// "
                         f"URL. Got {location!r} instead.")
    return ChromaRunStore.embedded(Path(text).expanduser())
