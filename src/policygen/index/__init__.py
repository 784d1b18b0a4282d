"""The usage index: what every user and role did, hour by hour, kept in SQLite.

`policygen index --logs PATH` scans the files of a trail (a local folder, or the trail's
bucket and prefix in S3) that it has not seen before (all principals, one pass) and adds
their calls to the index; a job whose files are all indexed is then answered without
reading a log file (in S3: with the listing a scan would make, and no GET).

Rows are calls counted by (principal, event hour, stream, region, CloudTrail call,
outcome), with the first and last event time and the latest delivery time of the files
they came from. A job's window rarely starts and ends on an hour, so:
- hours wholly inside the window are summed;
- in the two edge hours, a row whose first and last event times are both inside (or both
  outside) the window is taken (or dropped) whole;
- an edge hour with a row that straddles the window's edge, or an hour with calls from
  files delivered after the window's end plus the delivery margin (which a scan would not
  read), is scanned again from the logs for that principal, that hour only.
Policies, and counts, then equal a full scan's (see docs/behaviour.md for the limits).

The index covers a job when every file the job's scan would read is indexed, unchanged in
size, and the index knows no other file in that part of the trail.

Sits above `policygen.iam`: ingesting collects resource facts with the IAM fact rules.
May import core, cloudtrail, sources, scan and iam.
"""

from policygen.index.rows import IndexedSource
from policygen.index.schema import IndexUnusable
from policygen.index.usage_index import IngestReport, UsageIndex

__all__ = ["IndexUnusable", "IndexedSource", "IngestReport", "UsageIndex"]
