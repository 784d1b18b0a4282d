"""Where logs come from: local folders, S3, a trail found with GetTrail through an access
role, a job's set of trails; pruned by account, region and delivery day; re-delivered
duplicates.

May import `policygen.core` and `policygen.cloudtrail`.
"""
