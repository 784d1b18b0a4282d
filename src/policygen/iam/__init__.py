"""IAM knowledge: the action catalogue and how calls map onto it."""
