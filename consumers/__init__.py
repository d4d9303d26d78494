"""Subscriber API and CLI: read a recipient's feed as typed models."""
