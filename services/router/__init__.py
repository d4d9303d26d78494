"""The policy router: consume inbound events, decide per recipient, fan out exactly once."""
