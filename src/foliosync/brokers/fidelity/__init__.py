"""Fidelity: no public API, so positions and activity come from the website's CSV exports."""
