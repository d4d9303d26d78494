"""The compliance console's local store of the decision log: a SQLite file kept up to date
from the decisions and dead-letter topics, with the consumed offsets in the same
transactions as the rows (consumers/console_store/follow.py), and the questions the console
asks of it (search, an event's story, report counts)."""
