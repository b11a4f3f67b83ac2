"""The leaderboards view: the public boards and your own (Yours), with their charts."""
