"""DEMO DATA ONLY: tenants, deployments and models for the quick start; none of it is a sourced fact."""
