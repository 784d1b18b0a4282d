"""What every layer shares: ARNs, times, sizes, job errors, AWS sessions, the data directory.

Imports nothing else of policygen.
"""
