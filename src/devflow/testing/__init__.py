"""Fakes of external systems for tests and offline use: real servers speaking real protocols."""

from devflow.testing.fake_openai import FakeOpenAI, Fault, LoggedRequest, fake_embedding

__all__ = ["FakeOpenAI", "Fault", "LoggedRequest", "fake_embedding"]
