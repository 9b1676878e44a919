"""Google Cloud Storage of runs in Sacred's file layout."""
