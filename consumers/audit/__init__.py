"""The compliance audit tool: query, verify, export and report the policy decision log."""
