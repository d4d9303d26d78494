"""The fault suite (``make chaos``; a short version in tests/test_cluster.py): publish and
route events on a three-broker cluster while routers, a broker, the schema registry and a
subscriber fail, then hold the bus to exactly once with the checker (consumers/checker)."""
