"""Policy text: AWS-format documents (Sids, ordering, placeholders, splitting), `explain`,
and IAM's service last accessed data for the service-level template.

May import every layer below: core, cloudtrail, sources, scan, iam.
"""
