"""IAM knowledge and the mapping stage: the catalogue, CloudTrail call -> IAM actions,
PassRole, resource types, dependent actions, scan-time resource facts, and the analysis
that turns `Usage` into the action set.

May import every layer below: core, cloudtrail, sources, scan.
"""
