"""`policygen serve`: the Access Analyzer API over HTTP (Starlette app, SigV4, wire
protocol, throttling), its backend, the SQLite job store, worker processes and settings.

Sits on top: may import everything below, through `policygen.pipeline` for the work.
"""
