"""The foundation under both paths: storage that ingest writes and retrieval reads.

So far: ``sqlite`` (one way to open a database and to write in a transaction,
used by the document store, the audit chain and payloads, and the accounts).
"""
