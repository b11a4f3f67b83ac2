"""Settings, paths and saved endpoints: what the user configured, read once at start."""
