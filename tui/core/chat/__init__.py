"""Chat: the conversation store."""
