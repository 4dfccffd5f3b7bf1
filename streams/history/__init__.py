"""The history projection: every change of a contact and its children, field by field.

- `rows`: pure logic (snapshots, entries between neighbours, the state at a time)
- `store`: the asyncpg layer (snapshots and offsets in one transaction, reads)
- `consumer`: the consumer group that keeps the store up to date in the worker
"""
