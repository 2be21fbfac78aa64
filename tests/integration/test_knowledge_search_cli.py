"""`devflow search` and `devflow ask` print documents, not fragments, as plain text."""

import json

from tests.integration import test_knowledge_cli as cli_tests
from tests.integration.test_knowledge_pipeline import run_jobs

# The server and the CLI runner of the knowledge CLI's tests, as fixtures of this module too.
cli, server, fake_llm, llm_overrides, knowledge_overrides = (
    cli_tests.cli,
    cli_tests.server,
    cli_tests.fake_llm,
    cli_tests.llm_overrides,
    cli_tests.knowledge_overrides,
)

ORBITS = (
    "# Orbital mechanics\n\n## Gravity wells\n\nEscaping a gravity well takes delta-v.\n\n"
    "## Hohmann transfer\n\nTwo burns move a craft between [circular orbits](#circular).\n"
)


async def test_a_document_is_one_result_with_its_other_passages_under_it(cli, tmp_path, db_url):
    folder = tmp_path / "space"
    folder.mkdir()
    (folder / "orbits.md").write_text(ORBITS)
    (folder / "garden.md").write_text("# Gardening\n\nOrbital tomatoes need sun.\n")
    cli("knowledge", "add", str(folder), "--no-wait", "--json")
    await run_jobs(db_url)

    shown = cli("search", "orbital mechanics", "--mode", "keyword").stdout
    lines = shown.splitlines()
    assert lines[0].startswith("1. Orbital mechanics > ")
    assert "relevance 1.00" in lines[0]
    assert "Orbital mechanics > Orbital mechanics" not in shown
    assert [line.strip()[:8] for line in lines if "also in" in line] == ["also in "]
    assert "2. Gardening" in shown
    assert "](#circular)" not in shown

    passages = json.loads(
        cli(
            "search", "orbital mechanics", "--mode", "keyword", "--group", "passages", "--json"
        ).stdout
    )
    assert [h["uri"] for h in passages["hits"]][:2] == ["orbits.md", "orbits.md"]
    human = cli("search", "orbital mechanics", "--mode", "keyword", "--group", "passages").stdout
    assert "2. Orbital mechanics > " in human
    assert "also in" not in human
