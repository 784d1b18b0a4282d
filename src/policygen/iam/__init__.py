"""IAM knowledge: the action catalogue, what calls need, and what identities are granted."""
