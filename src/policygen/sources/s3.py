"""Trail logs in S3: list only the day folders a job needs, then GET the objects concurrently.

Listing follows the CloudTrail layout (cloudtrail-format.md §1.3): one `ListObjectsV2`
per account, region and delivery day (`[prefix/]AWSLogs/[<org-id>/]<account>/CloudTrail/
<region>/YYYY/MM/DD/`), names filtered with the same `wants_file` as local folders. Regions
are discovered with one delimiter listing when a job reads all of them; an unknown layout
(account or organization trail) with one more. A bucket is never listed whole.

Reading keeps a bounded number of GETs in flight (objects and bytes), in listing order,
so a job is not bound by request latency and memory stays bounded: nothing touches disk.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, TypeVar

from botocore.exceptions import (
    ClientError,
    IncompleteReadError,
    ReadTimeoutError,
    ResponseStreamingError,
)

from policygen.cloudtrail.layout import ACCOUNT_RE, ORG_RE
from policygen.core import aws
from policygen.core.aws import AwsAccess
from policygen.core.failures import JobFailure
from policygen.sources.base import LogObject, Selection, wants_file

T = TypeVar("T")
R = TypeVar("R")

SCHEME = "s3://"
#: Bucket names as S3 allows them (3-63 characters; dots, digits, lower case, hyphens).
BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]")
#: GETs in flight at once; CloudTrail objects are small, so latency, not bandwidth, binds.
DEFAULT_CONCURRENCY = 32
#: Compressed bytes fetched ahead of the scanner at most.
DEFAULT_INFLIGHT_BYTES = 64 * 1024 * 1024
#: An object larger than this is skipped as unreadable rather than held in memory.
DEFAULT_MAX_OBJECT_BYTES = 512 * 1024 * 1024
#: Day folders listed ahead of the reader.
LIST_AHEAD = 8
#: A selection longer than this many days is listed per region, in one paginated listing
#: from its first day to its last, instead of one listing per day: an index over all
#: time, a long window (pages hold 1,000 keys; CloudTrail writes ~288 files a day).
RANGE_DAYS = 62
#: `YYYY/MM/DD/` after a region's folder: the keys a day listing would find.
DAY_PATH_RE = re.compile(r"\d{4}/\d{2}/\d{2}/")
#: Reads of one object's body (botocore retries the request, not a body cut off midway).
BODY_ATTEMPTS = 3
_BODY_ERRORS = (IncompleteReadError, ReadTimeoutError, ResponseStreamingError)


def parse_url(url: str) -> tuple[str, str]:
    """`s3://bucket[/prefix]` -> (bucket, prefix without slashes at either end).

    The prefix is the trail's S3KeyPrefix: where `AWSLogs/` starts. A URL ending in
    `/AWSLogs` is taken to mean the same. ValueError says what is wrong.
    """
    if not url.startswith(SCHEME):
        raise ValueError(f"not an S3 URL: {url!r} (expected s3://bucket/prefix)")
    bucket, _, prefix = url[len(SCHEME) :].partition("/")
    if not BUCKET_RE.fullmatch(bucket):
        raise ValueError(f"not a valid S3 bucket name in {url!r}: {bucket!r}")
    prefix = prefix.strip("/")
    if prefix == "AWSLogs" or prefix.endswith("/AWSLogs"):
        prefix = prefix[: -len("AWSLogs")].rstrip("/")
    return bucket, prefix


def is_s3_url(location: str) -> bool:
    return location.startswith(SCHEME)


def prefetch(
    items: Iterable[T],
    fetch: Callable[[T], R],
    pool: ThreadPoolExecutor,
    *,
    ahead: int,
    size: Callable[[T], int] = lambda _: 0,
    max_bytes: int = 0,
) -> Iterator[tuple[T, Future[R]]]:
    """`fetch` each item on `pool`, yielding (item, future) in input order.

    At most `ahead` items are in flight and, when `max_bytes` is set, at most `max_bytes`
    of their `size` (but always at least one item). Items are drawn from `items` lazily.
    """
    pending: deque[tuple[T, Future[R]]] = deque()
    inflight = 0
    source = iter(items)
    upcoming: list[T] = []  # drawn from `source` but not submitted: it did not fit yet
    while True:
        while len(pending) < ahead and (upcoming or _draw(source, upcoming)):
            cost = size(upcoming[0])
            if pending and max_bytes and inflight + cost > max_bytes:
                break
            item = upcoming.pop()
            inflight += cost
            pending.append((item, pool.submit(fetch, item)))
        if not pending:
            return
        item, future = pending.popleft()
        inflight -= size(item)
        yield item, future


def _draw(source: Iterator[T], into: list[T]) -> bool:
    """Move the next item of `source` into `into`; False when `source` is exhausted."""
    for item in source:
        into.append(item)
        return True
    return False


@dataclass(frozen=True, slots=True)
class S3Trail:
    """A trail's logs in `s3://bucket/prefix`, read with `access` (a `TrailSource`).

    `organization`: True for an organization trail (`AWSLogs/<org-id>/<account>/`), False
    for an account trail, None when unknown (both are looked for). `org_id` spares the
    delimiter listing that finds the organization's folder. `label` names the trail in
    messages. Picklable: clients are made in each process that reads.
    """

    bucket: str
    prefix: str = ""
    access: AwsAccess = field(default_factory=AwsAccess)
    region: str | None = None
    organization: bool | None = None
    org_id: str | None = None
    label: str = ""
    kms_key: str | None = None
    concurrency: int = DEFAULT_CONCURRENCY
    max_inflight_bytes: int = DEFAULT_INFLIGHT_BYTES
    max_object_bytes: int = DEFAULT_MAX_OBJECT_BYTES

    @classmethod
    def from_url(cls, url: str, access: AwsAccess | None = None, **options: Any) -> S3Trail:
        bucket, prefix = parse_url(url)
        return cls(bucket, prefix, access or AwsAccess(), **options)

    # --- TrailSource -------------------------------------------------------------------

    def describe(self) -> str:
        url = self.location()
        return f"{url} (trail {self.label})" if self.label else url

    def location(self) -> str:
        """`s3://bucket/prefix`, however the trail was reached (a URL or GetTrail): the
        usage index's name for it."""
        return f"{SCHEME}{self.bucket}/{self.prefix}".rstrip("/")

    def relative_key(self, obj: LogObject) -> str:
        """The object's key below the trail's prefix (how the usage index names files)."""
        return obj.key.removeprefix(self.location() + "/")

    def list_objects(self, selection: Selection) -> Iterator[LogObject]:
        pool = ThreadPoolExecutor(LIST_AHEAD, thread_name_prefix="s3-list")
        listings = self._listings(selection)
        try:
            for _, future in prefetch(
                listings, lambda at: self._list(*at, selection), pool, ahead=LIST_AHEAD
            ):
                yield from future.result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def read(self, obj: LogObject) -> bytes:
        if obj.size > self.max_object_bytes:
            raise OSError(f"object of {obj.size} bytes is larger than {self.max_object_bytes}")
        what = f"s3:GetObject {obj.key}"
        for attempt in range(1, BODY_ATTEMPTS + 1):
            try:
                answer = self._s3().get_object(Bucket=self.bucket, Key=self._key(obj))
                return answer["Body"].read()
            except _BODY_ERRORS as exc:
                if attempt == BODY_ATTEMPTS:
                    raise self._failure(exc, what) from exc
            except ClientError as exc:
                if aws.error_code(exc) == "NoSuchKey":
                    raise FileNotFoundError(f"{obj.key} disappeared after it was listed") from None
                raise self._failure(exc, what) from exc
            except aws.aws_errors() as exc:
                raise self._failure(exc, what) from exc
        raise AssertionError("unreachable")

    def iter_contents(
        self, objects: Iterable[LogObject]
    ) -> Iterator[tuple[LogObject, bytes | OSError]]:
        """Every object's bytes (or why it could not be read), in order, fetched concurrently."""
        pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="s3-get")
        try:
            for obj, future in prefetch(
                objects,
                self._read_or_error,
                pool,
                ahead=self.concurrency * 2,
                size=lambda o: o.size,
                max_bytes=self.max_inflight_bytes,
            ):
                yield obj, future.result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    # --- listing -----------------------------------------------------------------------

    def _logs_root(self) -> str:
        return f"{self.prefix}/AWSLogs/" if self.prefix else "AWSLogs/"

    def _account_roots(self, selection: Selection) -> list[str]:
        """`.../AWSLogs/[<org-id>/]<account>/` folders of the wanted accounts.

        Known layouts need no request; otherwise `AWSLogs/` (and each organization folder
        when the accounts are not given) is listed with a delimiter.
        """
        base, accounts = self._logs_root(), selection.accounts
        if accounts is not None and (self.org_id or self.organization is False):
            parent = f"{base}{self.org_id}/" if self.org_id else base
            return [f"{parent}{account}/" for account in sorted(accounts)]
        roots = []
        for name in self._folders(base):
            if ORG_RE.fullmatch(name) and self.organization is not False:
                if self.org_id not in (None, name):
                    continue
                roots += [
                    f"{base}{name}/{account}/"
                    for account in self._folders(f"{base}{name}/")
                    if ACCOUNT_RE.fullmatch(account) and selection.wants_account(account)
                ]
            elif (
                ACCOUNT_RE.fullmatch(name)
                and self.organization is not True
                and selection.wants_account(name)
            ):
                roots.append(f"{base}{name}/")
        return roots

    def _listings(self, selection: Selection) -> Iterator[tuple[str, str, str]]:
        """(folder, first key, last day) of each listing the selection needs: every
        `<root>CloudTrail/<region>/YYYY/MM/DD/` folder, or, for more than `RANGE_DAYS`
        days, each region's folder from the first day's keys to the last day's."""
        first, last = selection.first_day(), selection.last_day()
        days = _days(first, last) if (last - first).days < RANGE_DAYS else None
        for root in self._account_roots(selection):
            trail = f"{root}CloudTrail/"
            if selection.regions is None:
                regions = self._folders(trail)
            else:
                regions = sorted(selection.regions)
            for region in regions:
                folder = f"{trail}{region}/"
                if days is None:
                    yield folder, f"{first:%Y/%m/%d}", f"{last:%Y/%m/%d}"
                else:
                    yield from ((f"{folder}{day:%Y/%m/%d}/", "", "") for day in days)

    def _list(self, folder: str, first: str, last: str, selection: Selection) -> list[LogObject]:
        """The wanted files of one listing (`first`, `last`: its day range, if any)."""
        found = []
        for item in self._keys(folder, f"{folder}{first}" if first else ""):
            key = item["Key"]
            if last:
                day = key[len(folder) : len(folder) + 11]
                if day[:10] > last:
                    break  # keys come in order: every later one is later still
                if not DAY_PATH_RE.fullmatch(day):
                    continue
            if wants_file(key.rpartition("/")[2], selection):
                found.append(LogObject(f"{SCHEME}{self.bucket}/{key}", item["Size"]))
        return found

    def _folders(self, parent: str) -> list[str]:
        """The names of the folders directly under `parent`."""
        return [
            common["Prefix"][len(parent) :].rstrip("/")
            for page in self._paginate(parent, Delimiter="/")
            for common in page.get("CommonPrefixes", ())
        ]

    def _keys(self, prefix: str, start_after: str = "") -> Iterator[dict[str, Any]]:
        """The objects under `prefix` (after `start_after`), page by page as they come:
        the caller may stop early."""
        arguments = {"StartAfter": start_after} if start_after else {}
        for page in self._paginate(prefix, **arguments):
            yield from page.get("Contents", ())

    def _paginate(self, prefix: str, **arguments: str) -> Iterator[dict[str, Any]]:
        """`ListObjectsV2` pages under `prefix`, failures raised as the job's error."""
        what = f"s3:ListBucket {SCHEME}{self.bucket}/{prefix}"
        pages = self._s3().get_paginator("list_objects_v2")
        try:
            yield from pages.paginate(Bucket=self.bucket, Prefix=prefix, **arguments)
        except aws.aws_errors() as exc:
            raise self._failure(exc, what) from exc

    # --- helpers -----------------------------------------------------------------------

    def _s3(self) -> Any:
        return aws.client(self.access, "s3", self.region, pool=self.concurrency)

    def _key(self, obj: LogObject) -> str:
        return obj.key[len(f"{SCHEME}{self.bucket}/") :]

    def _read_or_error(self, obj: LogObject) -> bytes | OSError:
        try:
            return self.read(obj)
        except OSError as exc:
            return exc

    def _failure(self, exc: BaseException, what: str) -> JobFailure:
        """The job error naming the trail, and its KMS key when S3 could not decrypt for us."""
        failure = aws.failure(exc, f"{what} (trail {self.label})" if self.label else what)
        if _is_kms_refusal(exc):
            key = self.kms_key or "the trail's KMS key"
            hint = f"SSE-KMS objects: {self.access.describe()} need kms:Decrypt on {key}"
            failure = JobFailure(failure.code, f"{failure.message} ({hint})")
        return failure


def _is_kms_refusal(exc: BaseException) -> bool:
    """S3 refused to decrypt: a `KMS.*` code, or an access denial that mentions KMS."""
    if not isinstance(exc, ClientError):
        return False
    code = aws.error_code(exc)
    message = str(exc.response.get("Error", {}).get("Message", ""))
    return code.startswith("KMS.") or (code == "AccessDenied" and "kms" in message.lower())


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]
