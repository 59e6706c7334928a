"""Amazon S3 buckets (a global namespace: each bucket lives in one region)."""
