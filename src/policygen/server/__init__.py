"""`policygen serve`: the Access Analyzer API and the review console."""
