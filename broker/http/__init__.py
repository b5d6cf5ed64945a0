"""HTTP plumbing shared by every router: error bodies, request ids, body limits, health."""
