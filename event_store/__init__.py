"""Infrastructure: the event store (SQLite or PostgreSQL through eventsourcing), read-model tables
with tracking, the projection worker, and bounded retries for transient database errors."""
