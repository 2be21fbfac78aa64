"""Web crawling: discovery (llms.txt, llms-full.txt, sitemaps, robots.txt), frontier and fetching.

The frontier is the `knowledge_crawl_url` table: a URL is added once per refresh (generation) and
marked done or failed in the same transaction that stores its document, so a crawl that is killed
resumes with the URLs still queued. Fetches go through the guarded `OutboundClient`; per host at
most `concurrency` requests run at once, `delay` seconds apart (or robots.txt's Crawl-delay).
"""

from __future__ import annotations

import asyncio
import fnmatch
import gzip
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urldefrag, urljoin, urlsplit, urlunsplit
from urllib.robotparser import RobotFileParser

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from devflow.core.db import unit_of_work
from devflow.core.outbound import (
    FetchResult,
    Networks,
    OutboundClient,
    OutboundError,
    OutboundPolicy,
)
from devflow.knowledge.extract import Extracted, ExtractionError, extract
from devflow.knowledge.ingest import (
    content_hash,
    find_document,
    record_failure,
    store_document,
)
from devflow.knowledge.models import CrawlUrl, Document, Source
from devflow.knowledge.settings import KnowledgeSettings

log = logging.getLogger(__name__)

_ACCEPT = "text/markdown;q=1.0, text/html;q=0.9, text/plain;q=0.8, application/pdf;q=0.7, */*;q=0.1"
_SITEMAP_LIMIT = 50_000
_LINKS_KEPT = 50_000  # distinct pages one page links to: a bound, not a choice
_LINK_IN_MD = re.compile(r"\[[^\]]*\]\((\S+?)(?:\s+\"[^\"]*\")?\)")


@dataclass
class CrawlStats:
    """Counters the job reports as progress."""

    discovered: int = 0
    fetched: int = 0
    chunked: int = 0
    failed: int = 0
    unchanged: int = 0
    new_chunks: int = 0
    skipped: list[str] = field(default_factory=list)
    limit: int | None = None
    """The most pages the crawl fetches (its `max_pages`): progress totals never pass it."""


@dataclass
class CrawlConfig:
    """A web source's settings with defaults filled in."""

    start: str
    max_depth: int
    max_pages: int
    include: list[str]
    exclude: list[str]
    same_domain: bool
    single_page: bool
    use_sitemap: bool
    use_llms_txt: bool
    respect_robots: bool
    allow_private: bool
    private_networks: Networks
    delay: float
    concurrency: int

    @classmethod
    def of(cls, source: Source, settings: KnowledgeSettings) -> CrawlConfig:
        """Read a source's settings."""
        s: dict[str, Any] = source.settings
        return cls(
            start=normalize_url(source.location),
            max_depth=int(s.get("max_depth", settings.crawl_max_depth)),
            max_pages=int(s.get("max_pages", settings.crawl_max_pages)),
            include=list(s.get("include", [])),
            exclude=list(s.get("exclude", [])),
            same_domain=bool(s.get("same_domain", True)),
            single_page=bool(s.get("single_page", False)),
            use_sitemap=bool(s.get("use_sitemap", True)),
            use_llms_txt=bool(s.get("use_llms_txt", True)),
            respect_robots=bool(s.get("respect_robots", True)),
            allow_private=bool(s.get("allow_private", False)) or settings.allow_private_networks,
            private_networks=tuple(settings.private_networks),
            delay=float(s.get("delay", settings.crawl_delay)),
            concurrency=int(s.get("concurrency", settings.crawl_concurrency)),
        )

    def in_scope(self, url: str) -> bool:
        """Return whether a discovered URL belongs to this crawl."""
        parts = urlsplit(url)
        if parts.scheme not in {"http", "https"}:
            return False
        start = urlsplit(self.start)
        if self.same_domain and parts.netloc.lower() != start.netloc.lower():
            return False
        if self.include and not any(fnmatch.fnmatch(url, p) for p in self.include):
            return False
        return not any(fnmatch.fnmatch(url, p) for p in self.exclude)


def normalize_url(url: str) -> str:
    """Return a URL without fragment, with a lower-case host and a path (`/` at least)."""
    url, _ = urldefrag(url.strip())
    parts = urlsplit(url)
    path = parts.path or "/"
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, parts.query, ""))


class HostGate:
    """Per-host politeness: at most `concurrency` requests, `delay` seconds apart."""

    def __init__(self, concurrency: int, delay: float) -> None:
        self._semaphore = asyncio.Semaphore(concurrency)
        self._lock = asyncio.Lock()
        self._next = 0.0
        self.delay = delay

    async def __aenter__(self) -> None:
        await self._semaphore.acquire()
        async with self._lock:
            wait = self._next - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self._next = time.monotonic() + self.delay

    async def __aexit__(self, *exc: object) -> None:
        self._semaphore.release()


class Crawler:
    """Crawls one web source into documents."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        source_id: uuid.UUID,
        settings: KnowledgeSettings,
        client: OutboundClient | None = None,
        progress: Callable[[CrawlStats], Awaitable[None]] | None = None,
    ) -> None:
        self._sessions = sessions
        self._source_id = source_id
        self._settings = settings
        self._client = client
        self._progress = progress
        self.stats = CrawlStats()
        self._robots: RobotFileParser | None = None
        self._gate = HostGate(1, 0.0)
        self._config: CrawlConfig | None = None
        self._generation = 0

    async def run(self) -> CrawlStats:
        """Crawl (or resume) until the frontier is empty or the page limit is reached."""
        async with unit_of_work(self._sessions) as session:
            source = await self._source(session)
            config = CrawlConfig.of(source, self._settings)
            self._generation = source.generation
        self._config = config
        policy = OutboundPolicy(
            allow_private=config.allow_private,
            private_networks=config.private_networks,
            timeout=self._settings.fetch_timeout,
            max_bytes=self._settings.max_document_bytes,
        )
        own = self._client is None
        self._client = self._client or OutboundClient(policy)
        try:
            if not await self._resume():
                await self._discover(config)
            await self._loop(config)
        finally:
            if own:
                await self._client.aclose()
        return self.stats

    async def _source(self, session: AsyncSession) -> Source:
        source = await session.get(Source, self._source_id)
        if source is None:
            raise LookupError(f"source {self._source_id} is gone")
        return source

    # -- discovery ---------------------------------------------------------------------------------

    async def _resume(self) -> bool:
        async with unit_of_work(self._sessions) as session:
            count = await session.scalar(
                select(func.count())
                .select_from(CrawlUrl)
                .where(CrawlUrl.source_id == self._source_id)
                .where(CrawlUrl.generation == self._generation)
            )
            if count:
                done = await session.scalar(
                    select(func.count())
                    .select_from(CrawlUrl)
                    .where(CrawlUrl.source_id == self._source_id)
                    .where(CrawlUrl.generation == self._generation)
                    .where(CrawlUrl.state != "queued")
                )
                self.stats.discovered = int(count)
                self.stats.fetched = int(done or 0)
                await self._load_robots()
                return True
            await session.execute(delete(CrawlUrl).where(CrawlUrl.source_id == self._source_id))
        return False

    async def _discover(self, config: CrawlConfig) -> None:
        await self._load_robots()
        seeds: list[tuple[str, int]] = [(config.start, 0)]
        if not config.single_page:
            if config.use_llms_txt:
                found = await self._llms(config)
                if found is not None:
                    seeds = found
            if config.use_sitemap and seeds:  # empty: llms-full.txt already holds the site
                seeds += [(u, 1) for u in await self._sitemaps(config)]
        await self._enqueue(seeds)

    async def _load_robots(self) -> None:
        assert self._config is not None  # noqa: S101
        config = self._config
        root = _root(config.start)
        robots = RobotFileParser()
        robots.parse([])
        if config.respect_robots:
            try:
                result = await self._fetch(urljoin(root, "/robots.txt"))
                if result.status == 200:  # noqa: PLR2004
                    robots.parse(result.content.decode("utf-8", "replace").splitlines())
            except OutboundError as exc:
                log.info("no robots.txt", extra={"url": root, "reason": exc.reason})
        self._robots = robots
        delay = robots.crawl_delay("DevFlow") if config.respect_robots else None
        self._gate = HostGate(config.concurrency, max(config.delay, float(delay or 0)))

    async def _llms(self, config: CrawlConfig) -> list[tuple[str, int]] | None:
        """Read llms-full.txt (its sections become documents) or llms.txt (its links, seeds)."""
        bases = list(dict.fromkeys([_dir_of(config.start), _root(config.start)]))
        for base in bases:
            full = await self._optional(urljoin(base, "llms-full.txt"))
            if full is not None:
                await self._store_llms_full(full)
                return []
        for base in bases:
            index = await self._optional(urljoin(base, "llms.txt"))
            if index is not None:
                links = [
                    normalize_url(urljoin(index.url, m))
                    for m in _LINK_IN_MD.findall(index.content.decode("utf-8", "replace"))
                ]
                return [(config.start, 0)] + [(u, 1) for u in links if config.in_scope(u)]
        return None

    async def _optional(self, url: str) -> FetchResult | None:
        try:
            result = await self._fetch(url)
        except OutboundError:
            return None
        if result.status != 200 or not result.content.strip():  # noqa: PLR2004
            return None
        if result.content_type == "text/html":  # a soft 404 page, not a text file
            return None
        return result

    async def _store_llms_full(self, result: FetchResult) -> None:
        text = result.content.decode("utf-8", "replace")
        sections = split_top_level(text)
        async with unit_of_work(self._sessions) as session:
            source = await self._source(session)
            for title, body in sections:
                slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:80] or "section"
                uri = f"{result.url}#{slug}"
                extracted = Extracted(title=title, text=body, content_type="markdown")
                async with session.begin_nested():
                    stored = await store_document(
                        session,
                        source=source,
                        uri=uri,
                        extracted=extracted,
                        settings=self._settings,
                    )
                self.stats.fetched += 1
                self.stats.discovered += 1
                self.stats.chunked += 1 if stored.outcome != "unchanged" else 0
                self.stats.new_chunks += stored.new_chunks

    async def _sitemaps(self, config: CrawlConfig) -> list[str]:
        assert self._robots is not None  # noqa: S101
        queue = list(self._robots.site_maps() or []) or [
            urljoin(_root(config.start), "/sitemap.xml")
        ]
        seen: set[str] = set()
        urls: list[str] = []
        while queue and len(urls) < _SITEMAP_LIMIT:
            sitemap = queue.pop(0)
            if sitemap in seen or len(seen) > 50:  # noqa: PLR2004 - bound nested indexes
                continue
            seen.add(sitemap)
            result = await self._optional(sitemap)
            if result is None:
                continue
            body = result.content
            if sitemap.endswith(".gz") or body[:2] == b"\x1f\x8b":
                try:
                    body = gzip.decompress(body)[: self._settings.max_document_bytes]
                except OSError:
                    continue
            kind, locs = parse_sitemap(body)
            for loc in locs:
                url = normalize_url(loc)
                if kind == "index":
                    queue.append(url)
                elif config.in_scope(url):  # a sitemap pointing off-site is not followed
                    urls.append(url)
        return urls

    # -- the frontier ------------------------------------------------------------------------------

    async def _enqueue(self, items: list[tuple[str, int]]) -> int:
        if not items:
            return 0
        rows: dict[str, int] = {}
        for url, depth in items:
            norm = normalize_url(url)
            rows.setdefault(norm, depth)
        async with unit_of_work(self._sessions) as session:
            result = await session.execute(
                insert(CrawlUrl)
                .values(
                    [
                        {
                            "source_id": self._source_id,
                            "url": u,
                            "depth": d,
                            "generation": self._generation,
                            "state": "queued",
                        }
                        for u, d in rows.items()
                    ]
                )
                .on_conflict_do_nothing()
                .returning(CrawlUrl.url)
            )
            added = len(result.all())
        self.stats.discovered += added
        return added

    async def _next_batch(self, size: int) -> list[tuple[str, int]]:
        async with unit_of_work(self._sessions) as session:
            rows = await session.execute(
                select(CrawlUrl.url, CrawlUrl.depth)
                .where(CrawlUrl.source_id == self._source_id, CrawlUrl.state == "queued")
                .order_by(CrawlUrl.depth, CrawlUrl.created_at, CrawlUrl.url)
                .limit(size)
            )
            return [(r.url, r.depth) for r in rows]

    async def _loop(self, config: CrawlConfig) -> None:
        self.stats.limit = config.max_pages
        while self.stats.fetched < config.max_pages:
            batch = await self._next_batch(
                min(config.concurrency * 2, config.max_pages - self.stats.fetched)
            )
            if not batch:
                return
            await asyncio.gather(*(self._visit(config, url, depth) for url, depth in batch))
            if self._progress is not None:
                await self._progress(self.stats)
        async with unit_of_work(self._sessions) as session:  # over the limit: the rest is skipped
            await session.execute(
                update(CrawlUrl)
                .where(CrawlUrl.source_id == self._source_id, CrawlUrl.state == "queued")
                .values(state="skipped", error=f"over the {config.max_pages}-page limit")
            )

    async def _visit(self, config: CrawlConfig, url: str, depth: int) -> None:  # noqa: C901
        assert self._robots is not None  # noqa: S101
        if config.respect_robots and not self._robots.can_fetch("DevFlow", url):
            await self._finish(url, "skipped", "disallowed by robots.txt")
            return
        async with unit_of_work(self._sessions) as session:
            known = await find_document(session, source_id=self._source_id, uri=url)
            headers = {"Accept": _ACCEPT}
            # A conditional request only where a 304 leaves nothing unknown: the page's links
            # are kept with it (pages stored before they were are fetched whole once).
            if known is not None and known.status == "ok" and known.links is not None:
                if known.etag:
                    headers["If-None-Match"] = known.etag
                if known.last_modified:
                    headers["If-Modified-Since"] = known.last_modified
        try:
            async with self._gate:
                result = await self._fetch(url, headers)
        except OutboundError as exc:
            await self._fail(url, exc.message)
            return
        self.stats.fetched += 1
        if result.status == 304:  # noqa: PLR2004 - not modified: keep it, follow its links
            await self._follow(config, await self._unchanged(url), depth)
            return
        if result.status >= 400:  # noqa: PLR2004
            await self._fail(url, f"HTTP {result.status} from {result.url}")
            return
        final = normalize_url(result.url)
        if final != url and not config.in_scope(final):
            await self._finish(url, "skipped", f"redirected out of scope to {final}")
            return
        try:
            extracted = extract(
                result.content,
                name=urlsplit(final).path or "/",
                media_type=result.content_type or None,
                charset=result.charset,
                base_url=final,
            )
        except ExtractionError as exc:
            await self._fail(url, exc.message)
            return
        uri = final
        if extracted.canonical:
            canonical = normalize_url(extracted.canonical)
            if config.in_scope(canonical):
                uri = canonical
        links = _links_in_scope(config, final, extracted.links)
        await self._store(url, uri, extracted, result, links)
        await self._follow(config, links, depth)

    async def _follow(self, config: CrawlConfig, links: list[str], depth: int) -> None:
        if depth < config.max_depth and not config.single_page:
            await self._enqueue([(link, depth + 1) for link in links])

    async def _store(
        self, url: str, uri: str, extracted: Extracted, result: FetchResult, links: list[str]
    ) -> None:
        async with unit_of_work(self._sessions) as session:
            source = await self._source(session)
            if uri != url:  # a redirect or canonical: the same page may already be stored
                await self._mark(session, uri, "done")
            digest = content_hash(extracted.text)
            # Two pages with the same text fetched at once would each miss the other's uncommitted
            # row: the check and the insert run under a lock named after the source and the text.
            await session.execute(
                select(
                    func.pg_advisory_xact_lock(func.hashtextextended(f"{source.id}:{digest}", 0))
                )
            )
            duplicate = await session.scalar(
                select(Document.uri).where(
                    Document.source_id == source.id,
                    Document.content_hash == digest,
                    Document.uri != uri,
                    Document.seen_generation == source.generation,
                )
            )
            if duplicate is not None:
                await self._mark(session, url, "skipped", f"duplicate of {duplicate}")
                return
            stored = await store_document(
                session,
                source=source,
                uri=uri,
                extracted=extracted,
                settings=self._settings,
                size=len(result.content),
                etag=result.headers.get("etag"),
                last_modified=result.headers.get("last-modified"),
                links=links,
            )
            await self._mark(session, url, "done")
        if stored.outcome == "unchanged":
            self.stats.unchanged += 1
        else:
            self.stats.chunked += 1
            self.stats.new_chunks += stored.new_chunks

    async def _unchanged(self, url: str) -> list[str]:
        """Keep a page that did not change; return the links it had (its `<a href>`s)."""
        async with unit_of_work(self._sessions) as session:
            source = await self._source(session)
            links = await session.scalar(
                update(Document)
                .where(Document.source_id == source.id, Document.uri == url)
                .values(seen_generation=source.generation, error=None)
                .returning(Document.links)
            )
            await self._mark(session, url, "done")
        self.stats.unchanged += 1
        return list(links or [])

    async def _fail(self, url: str, error: str) -> None:
        self.stats.failed += 1
        async with unit_of_work(self._sessions) as session:
            source = await self._source(session)
            await record_failure(session, source=source, uri=url, error=error)
            await self._mark(session, url, "failed", error)

    async def _finish(self, url: str, state: str, reason: str) -> None:
        self.stats.skipped.append(f"{url}: {reason}")
        async with unit_of_work(self._sessions) as session:
            await self._mark(session, url, state, reason)

    async def _mark(
        self, session: AsyncSession, url: str, state: str, error: str | None = None
    ) -> None:
        await session.execute(
            insert(CrawlUrl)
            .values(
                source_id=self._source_id,
                url=url,
                generation=self._generation,
                depth=0,
                state=state,
                error=error,
            )
            .on_conflict_do_update(
                index_elements=["source_id", "url"], set_={"state": state, "error": error}
            )
        )

    async def _fetch(self, url: str, headers: dict[str, str] | None = None) -> FetchResult:
        assert self._client is not None  # noqa: S101
        return await self._client.fetch(url, headers=headers)


def _links_in_scope(config: CrawlConfig, page: str, links: list[str]) -> list[str]:
    """Return a page's links the crawl may follow: normalized, in scope, each once."""
    found = (normalize_url(urljoin(page, link)) for link in links)
    return list(dict.fromkeys(link for link in found if config.in_scope(link)))[:_LINKS_KEPT]


def _root(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/"


def _dir_of(url: str) -> str:
    parts = urlsplit(url)
    path = parts.path if parts.path.endswith("/") else parts.path.rsplit("/", 1)[0] + "/"
    return f"{parts.scheme}://{parts.netloc}{path}"


def parse_sitemap(body: bytes) -> tuple[str, list[str]]:
    """Return ("index" or "urlset", the <loc> URLs) of a sitemap; nothing for a malformed one."""
    from lxml import etree  # type: ignore[import-untyped]

    try:
        parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
        root = etree.fromstring(body, parser=parser)
    except etree.XMLSyntaxError:
        return "urlset", []
    tag = etree.QName(root).localname
    locs = [
        (el.text or "").strip()
        for el in root.iter()
        if isinstance(el.tag, str) and etree.QName(el).localname == "loc"
    ]
    return ("index" if tag == "sitemapindex" else "urlset"), [u for u in locs if u]


def split_top_level(markdown: str) -> list[tuple[str, str]]:
    """Split an llms-full.txt into (title, section) at its top-level (`# `) headings."""
    sections: list[tuple[str, str]] = []
    title = ""
    lines: list[str] = []
    in_fence = False
    for line in markdown.splitlines(keepends=True):
        if line.lstrip().startswith(("```", "~~~")):
            in_fence = not in_fence
        if not in_fence and line.startswith("# "):
            if "".join(lines).strip():
                sections.append((title or "Introduction", "".join(lines)))
            title, lines = line[2:].strip(), [line]
            continue
        lines.append(line)
    if "".join(lines).strip():
        sections.append((title or "Introduction", "".join(lines)))
    return sections


__all__ = [
    "CrawlConfig",
    "CrawlStats",
    "Crawler",
    "normalize_url",
    "parse_sitemap",
    "split_top_level",
]
