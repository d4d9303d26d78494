"""intelbus: the shared package of producers, consumers and services (settings, clients, serde)."""
