"""Counting calls: log files in, each principal's CloudTrail calls (`Usage`) out. The
decoder, the tally, the fold, the local process pool, the Spark engine, the usage index.

Produces no IAM actions: what IAM knowledge a scan needs (which calls carry resource
facts, and how to read them) is handed in from above as a `FactRules` object. May import
`policygen.core`, `policygen.cloudtrail` and `policygen.sources`.
"""
