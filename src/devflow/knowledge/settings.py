"""Settings of the knowledge domain (`DEVFLOW_KNOWLEDGE__…`)."""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field


class KnowledgeSettings(BaseModel):
    """The knowledge hub: crawling, extraction, chunking, embeddings and search."""

    embedder: str = Field(
        "local",
        description="`local` (the built-in CPU model, offline), an LLM alias / `provider/model` "
        "of an OpenAI-compatible embeddings API (through the LLM gateway client), or "
        "`python:module:factory` for a plugin.",
    )
    chunk_size: int = Field(1200, ge=200, le=20_000, description="Target chunk size in characters.")
    chunk_overlap: int = Field(
        150, ge=0, le=5_000, description="Characters repeated between two chunks of one section."
    )
    code_example_min_chars: int = Field(
        300, ge=50, description="Code blocks at least this long also go to the code-example index."
    )
    summarize_code_examples: bool = Field(
        False, description="Ask the LLM (`chat-fast`) for a one-line summary of each code example."
    )
    max_document_bytes: int = Field(
        10 * 1024 * 1024, ge=1024, description="Largest page or file ingested (bytes)."
    )
    max_upload_bytes: int = Field(
        50 * 1024 * 1024, ge=1024, description="Largest upload request (bytes)."
    )
    allow_private_networks: bool = Field(
        False,
        description="Let every web and git source reach private, loopback and link-local "
        "addresses (otherwise only sources an instance admin created with allow_private may).",
    )
    private_networks: list[IPv4Network | IPv6Network] = Field(
        default_factory=list,
        description="Private networks every web and git source may reach, as CIDR "
        '(`["10.20.0.0/16"]` for an intranet wiki); other private addresses need '
        "allow_private on the source, which only instance admins may set.",
    )
    local_roots: list[Path] = Field(
        default_factory=list,
        description="Folders on the DevFlow server whose sub-folders and git repositories "
        "instance admins may add as sources (read by the server's own user); empty: none. "
        "Files elsewhere are uploaded by the CLI instead.",
    )
    crawl_max_pages: int = Field(500, ge=1, description="Default page limit of a web crawl.")
    crawl_max_depth: int = Field(3, ge=0, description="Default link depth of a web crawl.")
    crawl_concurrency: int = Field(4, ge=1, le=64, description="Parallel fetches per host.")
    crawl_delay: float = Field(
        0.1, ge=0, description="Seconds between two requests to one host (robots.txt may ask more)."
    )
    fetch_timeout: float = Field(30.0, gt=0, description="Seconds to fetch one page.")
    embed_batch_size: int = Field(64, ge=1, le=4096, description="Chunks embedded per batch.")
    embed_during_fetch: bool = Field(
        True,
        description="Embed a source's chunks while it is still being fetched, in full batches "
        "(the cores that extraction leaves idle); off, embedding starts after the fetch.",
    )
    search_candidates: int = Field(
        100, ge=10, le=2000, description="Candidates taken from each retriever before fusion."
    )
    search_posting_budget: int = Field(
        30_000,
        ge=1_000,
        description="Keyword postings one query may read: past it the commonest query terms "
        "(the least telling) are left out, which bounds keyword latency on large indexes.",
    )
    # Chosen on SciFact's train split by bench/knowledge.py (bench/RESULTS.md): standardised
    # scores with equal weights beat the best reciprocal rank fusion there.
    fusion: Literal["rrf", "zscore"] = Field(
        "zscore",
        description="How hybrid search fuses keyword and vector results: `zscore` (weighted sum "
        "of per-query standardised scores) or `rrf` (reciprocal rank fusion).",
    )
    rrf_k: int = Field(5, ge=1, description="Reciprocal rank fusion constant (fusion `rrf`).")
    keyword_weight: float = Field(
        1.25,
        ge=0,
        description="Weight of keyword results in fusion (chosen on SciFact's train split).",
    )
    semantic_weight: float = Field(1.0, ge=0, description="Weight of vector results in fusion.")
    answer_model: str = Field("chat", description="LLM alias that writes cited answers.")
    answer_chunks: int = Field(8, ge=1, le=50, description="Chunks given to the answering model.")


__all__ = ["KnowledgeSettings"]
