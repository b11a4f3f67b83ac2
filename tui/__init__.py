"""llmtui: choose and try open LLMs in the terminal."""

__version__ = "0.1.0"
