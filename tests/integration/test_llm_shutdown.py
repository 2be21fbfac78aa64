"""Usage rows of unbudgeted calls are batched; a normal shutdown still writes every one."""

import signal
import subprocess
import sys

from sqlalchemy import func, select

from devflow.llm import LLMClient, Tags
from devflow.llm.models import LLMUsage
from devflow.testing import FakeOpenAI

HOUR = 3600.0  # a write-behind delay no test outlives: only a flush can write the rows

# A process that makes three calls, says so, and then idles until it is stopped. It installs
# Python's own SIGINT handler, as a terminal would leave it: a child of a process that ignores
# SIGINT (the test run, at times) inherits the ignore, and Ctrl-C would then do nothing.
SCRIPT = """
import asyncio, signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)
from devflow.core.config import DatabaseSettings
from devflow.core.db import create_engine, session_factory
from devflow.llm import LLMClient, Tags
from devflow.llm.settings import LLMSettings

async def main():
    engine = create_engine(sys.argv[1], DatabaseSettings())
    settings = LLMSettings.model_validate_json(sys.argv[2])
    client = LLMClient(settings, sessions=session_factory(engine), write_behind=float(sys.argv[3]))
    for i in range(3):
        messages = [{"role": "user", "content": f"question {i}"}]
        await client.chat("chat", messages, tags=Tags("shutdown", project="p"))
    print("called", flush=True)
    await asyncio.sleep(3600)

try:
    asyncio.run(main())
except KeyboardInterrupt:
    pass
"""


async def usage_rows(sessions) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(LLMUsage)) or 0)


class TestShutdownFlush:
    async def test_ctrl_c_writes_the_queued_usage_rows(self, db_url, sessions):
        with FakeOpenAI() as fake:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    SCRIPT,
                    db_url,
                    fake.llm_settings().model_dump_json(),
                    str(HOUR),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            try:
                assert proc.stdout is not None
                assert proc.stdout.readline().strip() == "called", proc.stderr
                assert await usage_rows(sessions) == 0  # still queued
                proc.send_signal(signal.SIGINT)
                _, errors = proc.communicate(timeout=60)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.communicate()
        assert proc.returncode == 0, errors
        assert await usage_rows(sessions) == 3

    async def test_aclose_writes_the_queued_usage_rows(self, sessions):
        with FakeOpenAI() as fake:
            client = LLMClient(fake.llm_settings(), sessions=sessions, write_behind=HOUR)
            await client.chat("chat", [{"role": "user", "content": "hi"}], tags=Tags("t"))
            assert await usage_rows(sessions) == 0
            await client.aclose()
        assert await usage_rows(sessions) == 1
