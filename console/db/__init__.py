"""The database layer under the apps' services and selectors, for statements the ORM would
spend more round trips or more CPU on:

- `inserts`: a row unless one like it is there, a row that must go in, rows of several
  models in one statement;
- `one_statement`: a row with its dependents and the updates that go with it, one
  statement on PostgreSQL;
- `updates`: updates that answer their rows, and many rows each with its own values;
- `prepared`: queries and updates compiled once and bound on every call (`parameters`:
  what varies between the calls);
- `compiled`: one row's INSERT compiled once per shape (what the inserts are made of);
- `lookups`: `AnyOf`, a list bound as one parameter;
- `driver`: psycopg's statement cache widened for the hot paths' long statements;
- `schema`: schema changes the migration framework would make the slow way.
"""
