"""The CloudTrail record fields policygen reads, and who a record belongs to.

Only the fields the scan needs are declared, so msgspec skips everything else in a
record without building Python objects for it; that is most of a record's bytes.
"""

from __future__ import annotations

import msgspec

from policygen.core.arns import Principal

NULL = msgspec.Raw(b"null")


# Structs are declared in the order CloudTrail writes the fields (msgspec matches keys
# fastest that way) and with gc=False: they hold no cycles, and the cyclic collector
# would otherwise walk hundreds of thousands of them per scan.


class SessionIssuer(msgspec.Struct, frozen=True, gc=False):
    type: str | None = None
    arn: str | None = None


class SessionContext(msgspec.Struct, frozen=True, gc=False):
    sessionIssuer: SessionIssuer | None = None


class UserIdentity(msgspec.Struct, frozen=True, gc=False):
    type: str | None = None
    arn: str | None = None
    sessionContext: SessionContext | None = None
    invokedBy: str | None = None


class Record(msgspec.Struct, frozen=True, gc=False):
    userIdentity: UserIdentity | None = None
    eventTime: str | None = None
    eventSource: str | None = None
    eventName: str | None = None
    awsRegion: str | None = None
    errorCode: str | None = None
    # Kept raw and decoded lazily: only the few calls whose actions depend on it pay for
    # it. (msgspec cannot put Raw in a union; an absent field reads as JSON `null`.)
    requestParameters: msgspec.Raw = NULL
    # Resource facts (`policygen.iam.facts`), read only for matched calls that can have any.
    responseElements: msgspec.Raw = NULL
    eventID: str | None = None
    resources: msgspec.Raw = NULL
    eventType: str | None = None
    managementEvent: bool | None = None
    recipientAccountId: str | None = None
    eventCategory: str | None = None


class LogFile(msgspec.Struct, gc=False):
    Records: list[Record]


class RawLogFile(msgspec.Struct, gc=False):
    """A log file whose records are kept undecoded, to decode them one by one."""

    Records: list[msgspec.Raw]


LOG_DECODER = msgspec.json.Decoder(LogFile)
RAW_LOG_DECODER = msgspec.json.Decoder(RawLogFile)
RECORD_DECODER = msgspec.json.Decoder(Record)
#: Exports and tools often write a bare array of records instead of `{"Records": [...]}`.
RAW_ARRAY_DECODER = msgspec.json.Decoder(list[msgspec.Raw])
PARAMS_DECODER = msgspec.json.Decoder(dict)

#: Data-event (eventSource, eventName) pairs, for old records that predate `managementEvent`.
KNOWN_DATA_EVENTS = frozenset(
    [
        ("s3.amazonaws.com", name)
        for name in """GetObject PutObject DeleteObject DeleteObjects HeadObject CopyObject
        GetObjectAcl PutObjectAcl GetObjectTagging PutObjectTagging DeleteObjectTagging
        CreateMultipartUpload UploadPart UploadPartCopy CompleteMultipartUpload
        AbortMultipartUpload ListParts SelectObjectContent RestoreObject GetObjectAttributes
        GetObjectRetention PutObjectRetention GetObjectLegalHold PutObjectLegalHold""".split()
    ]
    + [("lambda.amazonaws.com", "Invoke"), ("lambda.amazonaws.com", "InvokeAsync")]
)


def identity_arn(identity: UserIdentity, principal_kind: str) -> str | None:
    """The ARN a record's caller is matched on for a principal of `principal_kind`.

    Users match on `userIdentity.arn` (it keeps the user's path). Roles match on the
    session issuer's ARN, because the session ARN (`assumed-role/Name/session`) drops
    the role path and would confuse same-named roles on different paths.
    """
    if principal_kind == "user":
        return identity.arn if identity.type == "IAMUser" else None
    if identity.type != "AssumedRole" or identity.sessionContext is None:
        return None
    issuer = identity.sessionContext.sessionIssuer
    if issuer is None or issuer.type != "Role":
        return None
    return issuer.arn


def caller_principal(identity: UserIdentity | None) -> str | None:
    """The IAM user or role ARN that made a call, or None for anyone else.

    Used by all-principals scans: every user and role found becomes a principal.
    """
    if identity is None:
        return None
    if identity.type == "IAMUser":
        return identity.arn
    return identity_arn(identity, "role")


def is_data_event(record: Record) -> bool:
    """Whether a record is a data-plane event (S3 objects, Lambda Invoke, ...)."""
    return data_event(
        record.eventSource, record.eventName, record.managementEvent, record.eventCategory
    )


def data_event(
    source: str | None, name: str | None, management: bool | None, category: str | None
) -> bool:
    """`is_data_event` from the fields alone: decided once per kind of call, not per record."""
    if management is not None:
        return not management
    if category is not None:
        return category == "Data"
    return (source, name) in KNOWN_DATA_EVENTS


def belongs_to(record: Record, principal: Principal) -> bool:
    """True when the record is one of the principal's own calls (type checks included)."""
    identity = record.userIdentity
    if identity is None:
        return False
    return identity_arn(identity, principal.kind) == principal.arn
