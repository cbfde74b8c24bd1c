"""S3-compatible object storage adapters (boto3): attachments in production."""
