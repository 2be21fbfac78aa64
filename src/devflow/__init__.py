"""DevFlow: a self-hosted, AI-native development platform."""

__version__ = "0.1.0"
