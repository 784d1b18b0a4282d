"""Scanning logs: the scanner, its tallies, and what a scan tells about itself."""
