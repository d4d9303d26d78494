"""Long-running services of the bus (the policy router)."""
