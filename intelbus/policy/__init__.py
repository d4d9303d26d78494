"""Sharing policy: recipients and rules as data (``policies/``), and their evaluation."""
