"""The deconfliction service (intelbus deconflict run)."""
