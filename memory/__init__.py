"""Run memory: past runs found again by dataset similarity (chromadb or in memory)."""

from __future__ import annotations

from memory._chroma import COLLECTION, ChromaRunStore
from memory._inmemory import InMemoryRunStore
from memory._jsonl import SEED_FILE, ensure_seeded, read_jsonl, write_jsonl
from memory._open import open_store
from memory._scaling import Standardizer
from memory._store import RunStore

__all__ = [
    "COLLECTION",
    "SEED_FILE",
    "ChromaRunStore",
    "InMemoryRunStore",
    "RunStore",
    "Standardizer",
    "ensure_seeded",
    "open_store",
    "read_jsonl",
    "write_jsonl",
]
