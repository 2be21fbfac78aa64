import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from devflow.core.db import unit_of_work
from devflow.core.errors import Invalid, Unavailable
from devflow.core.migrate import check_connection, check_models, current_revision, head_revision
from devflow.knowledge.embedding import ensure_vector_index

REPO = Path(__file__).resolve().parents[2]


def db_check(url: str) -> subprocess.CompletedProcess[str]:
    """Run `devflow db check` against `url`, as an operator would."""
    env = {**os.environ, "DEVFLOW_DATABASE_URL": url, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "devflow", "db", "check"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


class TestSchema:
    def test_models_and_migrations_agree(self, template_url):
        check_models(template_url)  # raises Invalid, naming the differences, on drift

    def test_the_template_is_at_head(self, template_url):
        assert current_revision(template_url) == head_revision()

    def test_the_extensions_are_installed(self, template_url):
        with psycopg.connect(template_url) as conn:
            names = {r[0] for r in conn.execute("SELECT extname FROM pg_extension")}
        assert {"vector", "pg_trgm"} <= names


class TestDbCheck:
    async def test_the_vector_indexes_made_at_run_time_are_not_drift(self, db_url, sessions):
        async with unit_of_work(sessions) as session:
            await ensure_vector_index(session, model="test/tiny-embedder", dimension=8)
        with psycopg.connect(db_url) as conn:
            made = conn.execute(
                "SELECT count(*) FROM pg_indexes WHERE indexname LIKE %s",
                ("ix_knowledge_embedding_hnsw_%",),
            ).fetchone()
        assert made == (1,)
        check_models(db_url)
        result = db_check(db_url)
        assert result.returncode == 0, result.stderr
        assert "models and migrations agree" in result.stdout

    def test_real_drift_is_named_in_one_clean_message(self, db_url):
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute('CREATE INDEX ix_hand_made ON "user" (created_at)')
            conn.execute("ALTER TABLE knowledge_lexeme ADD COLUMN note text")
        with pytest.raises(Invalid, match="ix_hand_made") as caught:
            check_models(db_url)
        assert "knowledge_lexeme.note" in caught.value.message
        result = db_check(db_url)
        assert result.returncode == 2
        assert "Traceback" not in result.stderr
        assert "ix_hand_made" in result.stderr
        assert "knowledge_lexeme.note" in result.stderr

    def test_a_database_behind_the_migrations_is_told_to_upgrade(self, db_url):
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute("UPDATE alembic_version SET version_num = '0001'")
        with pytest.raises(Invalid, match="devflow db upgrade"):
            check_models(db_url)


class TestConnectionProblems:
    def test_a_wrong_password_is_reported_with_the_password_masked(self, pg_server):
        bad = pg_server.replace("://devflow:", "://devflow:wrong-", 1)
        with pytest.raises(Unavailable) as caught:
            check_connection(bad)
        assert "password authentication failed" in caught.value.message
        assert "wrong-" not in caught.value.message
        assert ":***@" in caught.value.message

    def test_an_unreachable_server_is_reported(self):
        with pytest.raises(Unavailable, match="cannot connect to PostgreSQL at"):
            check_connection("postgresql://u:p@127.0.0.1:1/db")

    def test_a_missing_extension_is_named_with_how_to_install_it(self, pg_server):
        with pytest.raises(Invalid, match=r"lacks the extension\(s\) no_such_ext.*pgvector"):
            check_connection(pg_server, required=("vector", "no_such_ext"))
