"""Amazon S3 (and S3-compatible) storage of runs in Sacred's file layout."""
