"""Ingestion and retrieval on CORD-19 passages (../shared/data/covidqa), ratios in one run.

    .venv/bin/python benchmarks/ingest.py [--limit N] [--queries N]
    .venv/bin/python benchmarks/ingest.py --remote [--limit N] [--rounds 3] [--delay 0.25]
    .venv/bin/python benchmarks/ingest.py --pipeline [--limit N] [--rounds 3]

--remote: the same chunks embedded by ``openai/text-embedding-3-small`` against the
local OpenAI-compatible test server (a separate process; a fixed ``--delay`` per
request) at embedding_concurrency 8, against its ideal time: max(requests x delay /
8, Chroma's own insert time for the same vectors, measured alone) - target >= 0.8.
--pipeline: raw encode and the full local ingest in interleaved rounds (A B A B),
medians - target ours >= 0.85 x raw.

Measured in the same process, same chunks, same model (all-MiniLM-L6-v2, CPU):
  raw      SentenceTransformer.encode on the chunk texts: the limit of this machine
  ours     full incremental ingest (load, chunk, embed, upsert, record) - target >= 0.85 x raw
  again    unchanged re-ingest                                            - target <= 3 % of ours
  langchain  langchain_chroma.Chroma.from_documents, same chunks/model   - target ours >= 1.0 x
and retrieval quality on queries_dev.jsonl (a hit = a retrieved chunk of a gold passage).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # benchmarks.ingest_remote and tests.openai_server
DATA = REPO.parent / "shared" / "data" / "covidqa"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int, default=0, help="only the first N passages")
    parser.add_argument("--queries", type=int, default=0, help="only the first N queries")
    parser.add_argument("--remote", action="store_true", help="the remote-embedder run only")
    parser.add_argument("--pipeline", action="store_true", help="interleaved local rounds only")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of --remote/--pipeline")
    parser.add_argument("--delay", type=float, default=0.25, help="seconds per remote request")
    args = parser.parse_args()
    corpus, queries_file = DATA / "corpus.jsonl", DATA / "queries_dev.jsonl"
    if not corpus.exists():
        print(f"skipped: {corpus} is absent (external data, see ../shared/data/README.md)")
        return 0

    from ragwright.offline import apply_offline_defaults, quiet_library_logs

    apply_offline_defaults()
    quiet_library_logs()
    from ragwright.flows.ingest import ingest
    from ragwright.providers.local_embeddings import LocalEmbedder
    from ragwright.rag.chunking import ChunkingConfig, chunk_document
    from ragwright.rag.loaders import load_file
    from ragwright.settings import Settings

    work = Path(tempfile.mkdtemp(prefix="ragwright-bench-"))
    docs = work / "docs"
    docs.mkdir()
    lines = corpus.read_text(encoding="utf-8").splitlines()
    if args.limit:
        lines = lines[: args.limit]
    (docs / "corpus.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    settings = Settings(home=work / "home", docs_dir=docs)
    embedder = LocalEmbedder()
    embedder.encode(["warm up the model and its threads"])

    documents, _ = load_file(docs / "corpus.jsonl", docs)
    config = ChunkingConfig(settings.chunk_tokens, settings.chunk_overlap)
    chunks = [c for d in documents for c in chunk_document(d, config)]
    texts = [c.embedding_text for c in chunks]
    print(
        f"{len(documents)} passages -> {len(chunks)} chunks "
        f"({settings.chunk_tokens} tokens, overlap {settings.chunk_overlap})",
        flush=True,
    )
    if args.remote:
        from benchmarks.ingest_remote import remote_rounds

        return remote_rounds(work, docs, chunks, documents, rounds=args.rounds, delay=args.delay)
    if args.pipeline:
        from benchmarks.ingest_remote import pipeline_rounds

        return pipeline_rounds(work, docs, texts, embedder, rounds=args.rounds)

    started = time.perf_counter()
    embedder.encode(texts)
    raw_s = time.perf_counter() - started

    started = time.perf_counter()
    summary = ingest(settings)
    ours_s = time.perf_counter() - started
    assert summary.chunks_added == len(chunks), (summary.chunks_added, len(chunks))

    started = time.perf_counter()
    again = ingest(settings)
    again_s = time.perf_counter() - started
    assert again.chunks_added == 0
    assert again.docs_unchanged == len(documents)

    langchain_s = _langchain(chunks, embedder, work)
    rows = [
        ("raw encode (limit)", raw_s, len(chunks) / raw_s, 1.0),
        ("ragwright ingest", ours_s, len(chunks) / ours_s, raw_s / ours_s),
        (
            "langchain Chroma.from_documents",
            langchain_s,
            len(chunks) / langchain_s,
            raw_s / langchain_s,
        ),
    ]
    print(f"\n{'pipeline':34} {'seconds':>8} {'chunks/s':>9} {'x raw':>6}")
    for label, seconds, rate, ratio in rows:
        print(f"{label:34} {seconds:8.1f} {rate:9.1f} {ratio:6.2f}")
    print(f"\nragwright / raw throughput:        {raw_s / ours_s:.2f}  (target >= 0.85)")
    print(
        f"unchanged re-ingest / full ingest:  {again_s / ours_s:.1%} ({again_s:.2f} s;"
        " target <= 3 %)"
    )
    print(f"ragwright / langchain throughput:   {langchain_s / ours_s:.2f}  (target >= 1.0)")
    print(f"stage seconds (full ingest):        {summary.seconds}")
    print(f"peak RSS of this process:           {peak_rss_mb():.0f} MB")

    if queries_file.exists():
        _retrieval(settings, embedder, queries_file, args.queries)
    return 0


def _langchain(chunks: list[Any], embedder: Any, work: Path) -> float:
    """LangChain's own path: Chroma.from_documents with the same model and chunks."""
    from langchain_chroma import Chroma
    from langchain_core.documents import Document
    from langchain_core.embeddings import Embeddings

    class SameModel(Embeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return [list(map(float, v)) for v in embedder.encode(texts)]

        def embed_query(self, text: str) -> list[float]:
            return self.embed_documents([text])[0]

    documents = [
        Document(page_content=c.embedding_text, metadata={"doc_id": c.doc_id}) for c in chunks
    ]
    started = time.perf_counter()
    Chroma.from_documents(
        documents,
        SameModel(),
        ids=[c.chunk_id for c in chunks],
        persist_directory=str(work / "langchain-chroma"),
        collection_name="bench",
    )
    return time.perf_counter() - started


def _retrieval(settings: Any, embedder: Any, queries_file: Path, limit: int) -> None:
    from ragwright.rag.retriever import Retriever
    from ragwright.rag.vectorstore import chroma_client

    queries = [json.loads(line) for line in queries_file.read_text().splitlines() if line.strip()]
    if limit:
        queries = queries[:limit]
    retriever = Retriever(settings, embedder, chroma_client(settings))
    print(f"\nretrieval on {len(queries)} dev queries (hit = a chunk of a gold passage)")
    print(
        f"{'mode':8} {'recall@1':>9} {'recall@5':>9} {'recall@10':>10} {'MRR@10':>7}"
        f" {'ms/query':>9}"
    )
    for mode, hybrid in (("dense", False), ("hybrid", True)):
        hits = {1: 0, 5: 0, 10: 0}
        reciprocal = 0.0
        started = time.perf_counter()
        for query in queries:
            gold = set(query["gold_doc_ids"])
            ranked = [h.doc_id for h in retriever.retrieve(query["question"], k=10, hybrid=hybrid)]
            first = next((i for i, doc in enumerate(ranked, 1) if doc in gold), None)
            for k in hits:
                hits[k] += first is not None and first <= k
            reciprocal += 1.0 / first if first else 0.0
        per_query = (time.perf_counter() - started) * 1000 / len(queries)
        n = len(queries)
        print(
            f"{mode:8} {hits[1] / n:9.3f} {hits[5] / n:9.3f} {hits[10] / n:10.3f}"
            f" {reciprocal / n:7.3f} {per_query:9.1f}"
        )


if __name__ == "__main__":
    sys.exit(main())
