"""The IAM Access Analyzer-compatible HTTP API (`policygen serve`).

`protocol` is the rest-json wire format driven by botocore's service model, `errors` the
modelled AWS error types, `app` the Starlette routes that join the wire to the backend
(`policygen.service`).
"""
