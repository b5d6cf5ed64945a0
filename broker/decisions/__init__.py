"""Pre-flight decisions: "may tenant T, served in region or scope R, use model M, now?".

Layers (nothing below ``api`` imports FastAPI):

* ``api``       -- HTTP routes; parse, authorise the tenant, call the service, shape the response
* ``service``   -- :class:`DecisionService`: input building, cache, engine, audit, results
* ``snapshot``  -- :class:`PolicySnapshot` (engine + revisions + catalog index + its own cache),
  swapped atomically by :class:`SnapshotManager`
* ``cache``, ``catalog``, ``outcome``, ``timefmt`` -- pure helpers
* ``sink``/``filesink`` -- where every decision is recorded before it is returned
"""
