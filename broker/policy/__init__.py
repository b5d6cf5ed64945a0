"""The default policy pack's Python side: data document, pack loader, decision matrix, differential check.

Public API:

* :func:`broker.policy.datadoc.compile_data_document` -- registry revision -> ``data`` document
* :func:`broker.policy.pack.load_pack` / :data:`broker.policy.pack.DEFAULT_PACK_DIR`
* :class:`broker.policy.matrix.DecisionMatrix` -- tenants x targets x models x subjects x times
* :func:`broker.policy.differential.run_differential` -- compare two engines over a matrix
"""
