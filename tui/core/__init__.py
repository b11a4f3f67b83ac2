"""The domain of llmtui: catalogue, Hub, local files, fit, engines, storage. No Textual below here."""
