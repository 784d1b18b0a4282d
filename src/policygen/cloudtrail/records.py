"""The CloudTrail record fields policygen reads, and who a record belongs to.

Only the fields the scan needs are declared, so msgspec skips everything else in a
record without building Python objects for it; that is most of a record's bytes.
"""

from __future__ import annotations

import msgspec

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


def data_event(
    source: str | None, name: str | None, management: bool | None, category: str | None
) -> bool:
    """Whether a call is a data-plane event (S3 objects, Lambda Invoke, ...), from its fields
    alone: decided once per kind of call, not per record."""
    if management is not None:
        return not management
    if category is not None:
        return category == "Data"
    return (source, name) in KNOWN_DATA_EVENTS
