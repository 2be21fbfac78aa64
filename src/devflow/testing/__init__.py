"""Fakes of external systems for tests and offline use: real servers speaking real protocols.

Each fake lives with the domain whose port it stands in for (the OpenAI-compatible gateway with
`devflow.llm`); this module gathers them for tests.
"""

from devflow.llm import FakeOpenAI, Fault, LoggedRequest, fake_embedding

__all__ = ["FakeOpenAI", "Fault", "LoggedRequest", "fake_embedding"]
