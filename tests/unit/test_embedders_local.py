"""The local default embedder: the real all-MiniLM-L6-v2 model, loaded from installed packages."""

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from devflow.core.errors import Invalid
from devflow.knowledge.backends import embedders
from devflow.knowledge.backends.embedders import LocalEmbedder, local_embedder


def cosine(a, b):
    return sum(x * y for x, y in zip(a, b, strict=True))


@pytest.fixture(scope="module")
def embedder():
    made = local_embedder(batch_size=4)
    made.load()
    return made


class TestLocalEmbedder:
    def test_it_is_an_embedder_that_names_its_model_and_size(self, embedder):
        assert embedder.model == "local:all-MiniLM-L6-v2-int8"
        assert embedder.dimension == 384

    async def test_vectors_are_unit_length_and_of_the_declared_size(self, embedder):
        vectors = await embedder.embed_documents(["PostgreSQL full-text search", "", "x" * 5000])
        assert [len(v) for v in vectors] == [384, 384, 384]
        for vector in vectors:
            assert math.sqrt(sum(v * v for v in vector)) == pytest.approx(1.0, abs=1e-5)

    async def test_a_query_is_nearest_to_the_passage_that_answers_it(self, embedder):
        passages = [
            "To install the package, run pip install devflow in a virtual environment.",
            "The sourdough starter needs flour and water every day to stay alive.",
            "Rotate the API key from the settings page when a colleague leaves the team.",
        ]
        vectors = await embedder.embed_documents(passages)
        query = await embedder.embed_query("how do I install it with pip?")
        scores = [cosine(query, v) for v in vectors]
        assert scores.index(max(scores)) == 0
        assert scores[0] > 0.4 > scores[1]

    async def test_order_is_kept_whatever_the_batching(self, embedder):
        texts = [f"document number {i} " + "word " * (i * 7 % 40) for i in range(11)]
        together = await embedder.embed_documents(texts)
        one_by_one = [await embedder.embed_query(t) for t in texts]
        for a, b in zip(together, one_by_one, strict=True):
            assert cosine(a, b) == pytest.approx(1.0, abs=1e-4)

    async def test_the_same_text_gives_the_same_vector_in_another_instance(self, embedder):
        other = LocalEmbedder(batch_size=32, threads=1)
        [mine] = await embedder.embed_documents(["reciprocal rank fusion"])
        [theirs] = await other.embed_documents(["reciprocal rank fusion"])
        assert cosine(mine, theirs) == pytest.approx(1.0, abs=1e-5)

    async def test_no_texts_no_work(self, embedder):
        assert await embedder.embed_documents([]) == []

    def test_an_embedder_loads_its_model_once(self, embedder):
        assert embedder.load() is embedder.load()

    def test_bad_batch_size_or_threads_are_refused(self):
        with pytest.raises(Invalid, match="batch size"):
            LocalEmbedder(batch_size=0)
        with pytest.raises(Invalid, match="thread"):
            LocalEmbedder(threads=0)

    def test_more_sessions_than_threads_are_refused(self):
        with pytest.raises(Invalid, match="session"):
            LocalEmbedder(threads=2, sessions=3)
        with pytest.raises(Invalid, match="session"):
            LocalEmbedder(threads=2, sessions=0)


TEXTS = [f"passage {i}: " + "retrieval augmented generation " * (i * 5 % 23) for i in range(13)]


class TestBatching:
    def test_sessions_side_by_side_give_the_vectors_of_one_session_in_the_order_given(self):
        one = LocalEmbedder(batch_size=8, threads=1).encode(TEXTS)
        two = LocalEmbedder(batch_size=1, threads=2, sessions=2)
        with ThreadPoolExecutor(2) as pool:  # two callers at once share the two sessions
            first, second = pool.map(two.encode, [TEXTS, TEXTS[::-1]])
        np.testing.assert_allclose((one * first).sum(axis=1), 1.0, atol=1e-5)
        np.testing.assert_allclose((one[::-1] * second).sum(axis=1), 1.0, atol=1e-5)

    def test_texts_of_equal_word_piece_counts_share_a_batch_whatever_their_characters(
        self, monkeypatch
    ):
        # Digits are a word piece each; a long common word is one: characters mislead.
        texts = ["1 2 3 4 5 6 7 8", "responsibilities", "8 7 6 5 4 3 2 1", "organization"]
        seen: list[list[int]] = []
        run = embedders._encode_batch

        def record(runtime, pieces):
            seen.append([len(p) for p in pieces])
            return run(runtime, pieces)

        monkeypatch.setattr(embedders, "_encode_batch", record)
        vectors = LocalEmbedder(batch_size=2, threads=1).encode(texts)
        assert sorted(seen) == [[3, 3], [10, 10]]  # [CLS] and [SEP] included
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
