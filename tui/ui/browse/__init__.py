"""Browse job: the model catalogue (groups, table, detail) and the Hub search."""
