"""Several broker processes on one PostgreSQL database: shared audit log, one integrator
(lease with failover), and propagation of registry writes and policy activations."""
