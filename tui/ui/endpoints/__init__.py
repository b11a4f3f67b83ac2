"""The endpoints view: OpenAI-compatible servers, added, tested and removed."""
