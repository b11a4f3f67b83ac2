"""Running models. One backend interface (`base.Backend`) with local llama-cpp-python and remote
OpenAI-compatible servers behind it; chat and compare talk only to that interface."""
