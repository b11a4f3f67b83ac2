"""The presets manager: chat presets and each model's default one."""
