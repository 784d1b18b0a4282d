"""Reading CloudTrail logs into usage: the scanner, its worker pool and the usage index."""
