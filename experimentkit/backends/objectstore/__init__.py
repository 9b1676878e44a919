"""What the S3 and Google Cloud Storage observers share: Sacred's file layout written as objects."""
