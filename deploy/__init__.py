"""Deployment: the local Kafka and schema-registry stack as processes (``deploy.stack``),
their configuration files, and the topics as code (``topics.yaml``)."""
