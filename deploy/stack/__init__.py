"""The local Kafka + schema registry stack, started from Maven Central artifacts (no Docker)."""
