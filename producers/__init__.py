"""Publishing API and CLI: lookouts, officer-safety alerts, authorizations, case outcomes."""
