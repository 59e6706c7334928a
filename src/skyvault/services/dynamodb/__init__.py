"""Amazon DynamoDB tables."""
