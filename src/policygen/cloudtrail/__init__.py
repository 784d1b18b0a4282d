"""CloudTrail's own formats: the record model and its decoding, request parameters, the
qualifiers a call's parameters imply, and the S3 key layout CloudTrail writes.

Knows nothing of where files come from or of IAM. May import `policygen.core`.
"""
