"""Policy lifecycle: versions, validation, impact analysis, maker-checker approval, activation.

Layers (only ``api`` imports FastAPI; ``cli`` talks HTTP to a running broker):

* ``files``       -- a policy set, its content-addressed version id, directory and git import
* ``states``      -- the version state machine (409 INVALID_TRANSITION)
* ``store``/``tables`` -- SQLAlchemy Core repository (SQLite and PostgreSQL); migration
  ``broker/storage/migrations/versions/lifecycle_0001.py`` (branch ``lifecycle``)
* ``strict``, ``contract``, ``validation`` -- compile, strict checks, unit tests, contract shape
* ``impact/``     -- impact analysis (matrix + replay): ``evaluation`` (both versions side by
  side, in worker processes), ``classes``, ``matrix`` (stage 2, exact) and ``screen``/
  ``projection`` (stage 1) over ``impact/relevance/``, the static analysis of which registry
  fields a Rego change can read (``regoast``, ``units``, ``readset``, ``tags``)
* ``export``, ``jobs`` -- the impact report as CSV; background jobs with progress
* ``service``     -- :class:`LifecycleService`: every step, audited
* ``scheduler``, ``shadow``, ``activation`` -- scheduled activation, shadow mode, a reference activator
* ``protocols``   -- what the app wires in: PolicyActivator, DecisionHistory, RegistrySource, AuditSink
* ``wiring``      -- :func:`build_lifecycle` -> :class:`Lifecycle` (start/stop), for broker/runtime.py
"""
